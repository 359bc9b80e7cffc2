"""P4Runtime writes to bmv2: our batched client next to p4runtime-shell, in the same run.

Each round inserts N bridging entries into a freshly started switch with the
pipeline already pushed (connection and pipeline are set up outside the timed
part). The summary prints entries per second from the medians and the ratio to
p4runtime-shell, which inserts one entry per Write RPC. Never asserted.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bench.conftest import RATIOS, Progress
from ctrl.p4rt.build import BuildPaths
from ctrl.p4rt.client import P4Client
from ctrl.p4rt.entity import TableEntry, Update, insert
from ctrl.p4rt.schema import P4Schema
from ctrl.targets.bmv2 import Bmv2Switch
from tests import p4shell

N = 2_000
TITLE = f"P4Runtime writes of {N} bridging entries to bmv2 (median of 3 rounds)"
RATES: dict[str, float] = {}
SHELL = "p4runtime-shell, one per Write"


def entries(n: int) -> list[TableEntry]:
    return [TableEntry("bridging", {"vnet_id": 1 + i % 4000, "eth_dst": 0x020000000000 + i},
                       "bridging.forward", {"port": 1 + i % 8}) for i in range(n)]


def _record(name: str, median: float) -> None:
    RATES[name] = N / median
    base = RATES.get(SHELL)
    RATIOS[TITLE] = [
        f"  {n:<34} {r:>9,.0f} entries/s" + (f"   x{r / base:.1f} p4runtime-shell" if base else "")
        for n, r in RATES.items()
    ]


@pytest.mark.parametrize("batch", [1, 100, 1000])
def test_ours(benchmark: Any, bmv2: Bmv2Switch, build_paths: BuildPaths, schema: P4Schema,
              batch: int, progress: Progress) -> None:
    runner = asyncio.Runner()
    clients: list[P4Client] = []
    updates: list[Update] = [insert(e) for e in entries(N)]

    async def connect() -> None:
        client = P4Client(bmv2.grpc_addr, bmv2.device_id)
        await client.open()
        await client.set_pipeline(schema, build_paths.json.read_bytes())
        clients.append(client)

    def setup() -> None:
        if clients:
            runner.run(clients.pop().close())
        bmv2.stop()
        bmv2.start()
        runner.run(connect())

    async def write_all() -> None:
        for i in range(0, N, batch):
            await clients[-1].write(updates[i:i + batch])

    try:
        benchmark.pedantic(lambda: runner.run(write_all()),
                           setup=progress.rounds(3, f"{N:,} entries, round", setup), rounds=3,
                           iterations=1)
    finally:
        if clients:
            runner.run(clients.pop().close())
        runner.close()
    _record(f"ours, batches of {batch}", benchmark.stats.stats.median)


def test_p4runtime_shell(benchmark: Any, bmv2: Bmv2Switch, build_paths: BuildPaths,
                        progress: Progress) -> None:
    todo = p4shell.triples(entries(N))
    python = p4shell.shell_python()
    if python is None:
        pytest.skip("no p4runtime-shell virtualenv: `./run setup` makes .venv-p4shell")
    shell = p4shell.Session(python, bmv2.grpc_addr, bmv2.device_id, build_paths)

    def setup() -> None:
        shell.disconnect()
        bmv2.stop()
        bmv2.start()
        shell.reconnect()

    try:
        benchmark.pedantic(lambda: shell.insert_bridging(todo),
                           setup=progress.rounds(3, f"{N:,} entries, round", setup), rounds=3,
                           iterations=1)
    finally:
        shell.close()
    _record(SHELL, benchmark.stats.stats.median)
