"""P4Runtime writes to bmv2: our batched client against the raw ceiling, and p4runtime-shell,
in the same run.

Each round inserts bridging entries into a freshly started switch with the pipeline
already pushed (connection and pipeline are set up outside the timed part). The raw
ceiling is what bmv2 and gRPC allow: the same batches' WriteRequest bytes, made before
the round, sent one Write after the other on a plain gRPC channel, no client of ours in
the timed part. Its rounds alternate with ours (one of each, then the next pair), so
that both see the same load on a shared machine; the summary gives medians, ours as a
share of the ceiling at the same batch size (goal, issue 16: >= 90 %), and the ratio to
p4runtime-shell, which inserts one entry per Write RPC. Beside them, what making a
Write's bytes costs an entry, with the common updates in C (ctrl/fastpath/p4rt_encode.py)
and in Python alone (ctrl/p4rt/wire.py). Never asserted.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import grpc
import pytest

from bench.conftest import RATIOS, Progress
from ctrl.fastpath import native_available
from ctrl.fastpath.native import Backend
from ctrl.p4rt.build import BuildPaths
from ctrl.p4rt.client import P4Client
from ctrl.p4rt.entity import TableEntry, Update, insert
from ctrl.p4rt.proto import WRITE_METHOD
from ctrl.p4rt.schema import P4Schema
from ctrl.p4rt.wire import WriteEncoder
from ctrl.targets.bmv2 import Bmv2Switch
from tests import p4shell

N = 2_000          # one per Write (ours and p4runtime-shell)
N_BATCHED = 10_000
ROUNDS, ROUNDS_BATCHED = 3, 7
TITLE = "P4Runtime writes of bridging entries to bmv2 (medians)"
RATES: dict[str, float] = {}
SHELL = "p4runtime-shell, one per Write"
RAW = "raw ceiling"
ENCODING = "making a Write's bytes: 10,000 bridging inserts (median of 9)"
ENCODED: dict[str, float] = {}   # backend -> us an entry


def entries(n: int) -> list[TableEntry]:
    return [TableEntry("bridging", {"vnet_id": 1 + i % 4000, "eth_dst": 0x020000000000 + i},
                       "bridging.forward", {"port": 1 + i % 8}) for i in range(n)]


def _record(name: str, rate: float) -> None:
    RATES[name] = rate
    base = RATES.get(SHELL)
    lines = []
    for n, r in RATES.items():
        line = f"  {n:<40} {r:>9,.0f} entries/s"
        ceiling = RATES.get(n.replace("ours", RAW)) if n.startswith("ours") else None
        if ceiling:
            line += f"   {r / ceiling:4.0%} of the raw ceiling"
        if base and n != SHELL:
            line += f"   x{r / base:.1f} p4runtime-shell"
        lines.append(line)
    RATIOS[TITLE] = lines


class Fresh:
    """bmv2 started again, a client of ours connected, primary, the pipeline pushed."""

    def __init__(self, runner: asyncio.Runner, bmv2: Bmv2Switch, build_paths: BuildPaths,
                 schema: P4Schema) -> None:
        self.runner, self.bmv2, self.paths, self.schema = runner, bmv2, build_paths, schema
        self.client: P4Client | None = None

    def __call__(self) -> None:
        self.close()
        self.bmv2.stop()
        self.bmv2.start()
        self.client = client = P4Client(self.bmv2.grpc_addr, self.bmv2.device_id)
        self.runner.run(client.open())
        self.runner.run(client.set_pipeline(self.schema, self.paths.json.read_bytes()))

    def close(self) -> None:
        if self.client is not None:
            self.runner.run(self.client.close())
            self.client = None


async def _raw_round(address: str, requests: list[bytes]) -> float:
    """Seconds to send `requests` (WriteRequest bytes) one Write after the other."""
    async with grpc.aio.insecure_channel(address) as channel:
        write = channel.unary_unary(WRITE_METHOD, request_serializer=None,
                                    response_deserializer=None)
        await channel.channel_ready()
        began = time.perf_counter()
        for data in requests:
            await write(data)
        return time.perf_counter() - began


@pytest.mark.parametrize("batch", [100, 1000])
def test_ours_against_the_raw_ceiling(benchmark: Any, bmv2: Bmv2Switch,
                                      build_paths: BuildPaths, schema: P4Schema, batch: int,
                                      progress: Progress) -> None:
    runner = asyncio.Runner()
    fresh = Fresh(runner, bmv2, build_paths, schema)
    updates: list[Update] = [insert(e) for e in entries(N_BATCHED)]
    encoder = WriteEncoder(schema)
    raw: list[float] = []

    def setup() -> None:
        """A raw round (timed here), then a fresh switch for ours."""
        fresh()
        assert fresh.client is not None
        requests = [encoder.request(updates[i:i + batch], device_id=bmv2.device_id,
                                    election_id=fresh.client.election_id)
                    for i in range(0, N_BATCHED, batch)]
        raw.append(runner.run(_raw_round(bmv2.grpc_addr, requests)))
        fresh()

    async def write_all() -> None:
        assert fresh.client is not None
        for i in range(0, N_BATCHED, batch):
            await fresh.client.write(updates[i:i + batch])

    try:
        benchmark.pedantic(lambda: runner.run(write_all()),
                           setup=progress.rounds(ROUNDS_BATCHED, f"{N_BATCHED:,} entries raw, "
                                                 "then ours, round", setup),
                           rounds=ROUNDS_BATCHED, iterations=1)
    finally:
        fresh.close()
        runner.close()
    _record(f"{RAW}, {N_BATCHED:,} in batches of {batch}", N_BATCHED / statistics.median(raw))
    _record(f"ours, {N_BATCHED:,} in batches of {batch}",
            N_BATCHED / benchmark.stats.stats.median)


def test_ours_one_per_write(benchmark: Any, bmv2: Bmv2Switch, build_paths: BuildPaths,
                            schema: P4Schema, progress: Progress) -> None:
    runner = asyncio.Runner()
    fresh = Fresh(runner, bmv2, build_paths, schema)
    updates: list[Update] = [insert(e) for e in entries(N)]

    async def write_all() -> None:
        assert fresh.client is not None
        for u in updates:
            await fresh.client.write([u])

    try:
        benchmark.pedantic(lambda: runner.run(write_all()),
                           setup=progress.rounds(ROUNDS, f"{N:,} entries, round", fresh),
                           rounds=ROUNDS, iterations=1)
    finally:
        fresh.close()
        runner.close()
    _record(f"ours, {N:,} one per Write", N / benchmark.stats.stats.median)


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
                           setup=progress.rounds(ROUNDS, f"{N:,} entries, round", setup),
                           rounds=ROUNDS, iterations=1)
    finally:
        shell.close()
    _record(SHELL, N / benchmark.stats.stats.median)


@pytest.mark.parametrize("backend", [Backend.REFERENCE, Backend.NATIVE],
                         ids=["python", "c"])
def test_encoding(benchmark: Any, schema: P4Schema, backend: Backend) -> None:
    if backend is Backend.NATIVE and not native_available():
        pytest.skip("the C fast path is not built here")
    encoder = WriteEncoder(schema, backend)
    updates: list[Update] = [insert(e) for e in entries(N_BATCHED)]
    benchmark.pedantic(lambda: encoder.request(updates, device_id=1, election_id=(0, 1)),
                       rounds=9, iterations=1)
    ENCODED[backend.value] = benchmark.stats.stats.median / N_BATCHED * 1e6
    python, c = ENCODED.get("reference"), ENCODED.get("native")
    RATIOS[ENCODING] = [f"  {'in C' if k == 'native' else 'in Python'}: {v:.2f} us an entry"
                        for k, v in ENCODED.items()]
    if python and c:
        RATIOS[ENCODING].append(f"  C x{python / c:.1f} faster")
