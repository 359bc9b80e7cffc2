"""One Write's round trip to the Open vSwitch target, three ways, interleaved Write by Write:
the controller's Write on the C stream's channel (gRPC's C core; its answer read by the
stream's own thread, ctrl/p4rt/cstream.py) and on grpcio's asyncio channel (three thread
hops on the answer's way, as before), both answered once the bundle is committed (the
megaflow purge sent before the answer, its answer awaited off the Write's way); and on
grpcio answered after the purge's answer (as before issue 16 item 4, and still on DPDK's
datapath). The target runs in this process, on a thread of its own.

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
# name -> (the target answers after the purge's answer, the Write on the C stream's channel)
MODES = {"C core": (False, True), "grpcio": (False, False),
         "grpcio, after the purge": (True, False)}


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
                  ) -> dict[str, list[float]]:
    took: dict[str, list[float]] = {m: [] for m in MODES}
    names = list(MODES)
    for i in range(len(MODES) * ROUNDS):
        if i % 30 == 0:
            progress.step("Writes", i, len(MODES) * ROUNDS)
        mode = names[i % len(MODES)]
        # read by the target's thread per Write
        device.answer_after_purge, p4.c_writes = MODES[mode]
        if gap:
            await asyncio.sleep(gap)
        began = time.perf_counter()
        await p4.write([modify(_entry(1 + i % 3))])
        took[mode].append((time.perf_counter() - began) * 1e3)
    device.answer_after_purge, p4.c_writes = False, True
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
    c, now, before = (statistics.median(took[m]) for m in MODES)
    RATIOS.setdefault(TITLE, []).append(
        f"  {spacing:<17} on the C core {c:5.2f} ms, on grpcio {now:5.2f} ms (x{now / c:.2f}); "
        f"grpcio answered after the purge {before:5.2f} ms (x{before / now:.2f} against "
        f"at the commit); {ROUNDS} Writes each, load {os.getloadavg()[0]:.1f}")
