"""Batched P4Runtime writes to the Open vSwitch target: 10,000 bridging entries.

Goal (issue 3): >= 20,000 entries/s batched. Each round starts from an empty
pipeline (SetForwardingPipelineConfig resets the bridge).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.conftest import RATIOS
from ctrl import netns
from ctrl.ovs.target import BridgeSpec, serving
from ctrl.p4build import BuildPaths
from ctrl.p4client import P4Client
from ctrl.p4entity import TableEntry, Update, insert
from ctrl.p4schema import P4Schema
from tests.packet.ovs_target import ovs_available

N = 10_000
TITLE = f"P4Runtime writes of {N} bridging entries to the OVS target (median of 3 rounds)"


@pytest.fixture(scope="module")
def ovs_server(tmp_path_factory: pytest.TempPathFactory, schema: P4Schema) -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root to run ovs-vswitchd")
    if (why := ovs_available()) is not None:
        pytest.skip(why)
    uid = os.getpid() % 100000
    with netns.scratch_netns(f"bws{uid}") as ns, serving(
            Path(tmp_path_factory.mktemp("ovsbench")), [BridgeSpec(f"bw{uid}", 1, netns=ns)],
            schema) as target:
        yield target.address


def entries(n: int) -> list[TableEntry]:
    return [TableEntry("bridging", {"vnet_id": 1 + i % 4000, "eth_dst": 0x020000000000 + i},
                       "bridging.forward", {"port": 1 + i % 8}) for i in range(n)]


@pytest.mark.parametrize("batch", [1000, N])
def test_ovs_batched_writes(benchmark: Any, ovs_server: str, build_paths: BuildPaths,
                            schema: P4Schema, batch: int) -> None:
    runner = asyncio.Runner()
    client = P4Client(ovs_server, 1)
    updates: list[Update] = [insert(e) for e in entries(N)]
    runner.run(client.open())

    def setup() -> None:
        runner.run(client.set_pipeline(schema, build_paths.json.read_bytes()))

    async def write_all() -> None:
        for i in range(0, N, batch):
            await client.write(updates[i:i + batch])

    try:
        benchmark.pedantic(lambda: runner.run(write_all()), setup=setup, rounds=3, iterations=1)
    finally:
        runner.run(client.close())
        runner.close()
    rate = N / benchmark.stats.stats.median
    RATIOS.setdefault(TITLE, []).append(
        f"  batches of {batch:<6} {rate:>9,.0f} entries/s   (goal >= 20,000)")
