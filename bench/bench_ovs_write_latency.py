"""One Write's round trip to the Open vSwitch target: the answer sent once the bundle is
committed (the megaflow purge sent before it, its answer awaited off the Write's way) against
the answer sent after the purge's (as before issue 16 item 4, and still on DPDK's datapath).

One bridge (netdev datapath), P4Client writing one bridging entry at a time (a modify, its
port flipped), the two ways interleaved Write by Write so that both see the same load. Writes
come back to back, and spaced as a move's steps are (a few ms apart) and as moves are (the
channel idle in between: gRPC's first call after idle costs more). Medians; nothing about
time is asserted.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.conftest import RATIOS, Progress
from ctrl.p4rt.build import BuildPaths
from ctrl.p4rt.client import P4Client
from ctrl.p4rt.entity import TableEntry, insert, modify
from ctrl.p4rt.schema import P4Schema
from ctrl.platform import netns
from ctrl.targets.ovs.device import Device
from ctrl.targets.ovs.target import BridgeSpec, ThreadedTarget, serving
from tests.packet.ovs_target import skip_without_ovs

ROUNDS = 60  # Writes each way, per spacing
SPACINGS = {"back to back": 0.0, "5 ms apart": 0.005, "after 0.2 s idle": 0.2}
TITLE = "one Write's round trip to the OVS target (one entry; medians of interleaved Writes)"


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory, schema: P4Schema
           ) -> Iterator[ThreadedTarget]:
    skip_without_ovs()
    uid = os.getpid() % 100000
    with netns.scratch_netns(f"wl{uid}") as ns, serving(
            Path(tmp_path_factory.mktemp("ovslat")), [BridgeSpec(f"wl{uid}", 1, netns=ns,
                                                                 gre=False)],
            schema) as served:
        yield served


def _entry(port: int) -> TableEntry:
    return TableEntry("bridging", {"vnet_id": 1, "eth_dst": 0x020000000001},
                      "bridging.forward", {"port": port})


async def _series(p4: P4Client, device: Device, gap: float, progress: Progress
                  ) -> dict[bool, list[float]]:
    took: dict[bool, list[float]] = {False: [], True: []}
    for i in range(2 * ROUNDS):
        if i % 20 == 0:
            progress.step("Writes", i, 2 * ROUNDS)
        after_purge = bool(i % 2)
        device.answer_after_purge = after_purge  # read by the target's thread per Write
        if gap:
            await asyncio.sleep(gap)
        began = time.perf_counter()
        await p4.write([modify(_entry(1 + i % 3))])
        took[after_purge].append((time.perf_counter() - began) * 1e3)
    device.answer_after_purge = False
    return took


@pytest.mark.parametrize("spacing", list(SPACINGS))
def test_write_round_trip(benchmark: Any, target: ThreadedTarget, build_paths: BuildPaths,
                          schema: P4Schema, spacing: str, progress: Progress) -> None:
    device = target.devices[1]
    runner = asyncio.Runner()
    p4 = P4Client(target.address, 1)
    runner.run(p4.open())
    try:
        runner.run(p4.set_pipeline(schema, build_paths.json.read_bytes()))
        runner.run(p4.write([insert(_entry(1))]))
        took = benchmark.pedantic(lambda: runner.run(_series(p4, device, SPACINGS[spacing],
                                                             progress)),
                                  rounds=1, iterations=1)
    finally:
        runner.run(p4.close())
        runner.close()
    now, before = statistics.median(took[False]), statistics.median(took[True])
    RATIOS.setdefault(TITLE, []).append(
        f"  {spacing:<17} answered at the commit {now:5.2f} ms, after the purge "
        f"{before:5.2f} ms (x{before / now:.2f}); {ROUNDS} Writes each, load "
        f"{os.getloadavg()[0]:.1f}")
