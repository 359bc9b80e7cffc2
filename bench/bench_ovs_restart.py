"""What a switch agent's restart costs: `ctrl ovs-target` holding 10,000 bridging entries
(and two hosts' entries, GRE ones) killed with SIGKILL and started again, under a
1,000/s UDP stream each way between two hosts behind its bridge.

"taken up": the new target takes up its journal (ctrl/targets/ovs/journal.py): the
controller finds the pipeline (Get) and reads back what it wrote. "pushed again", the
peer: the journal removed first, as the target was before it kept one: the controller
pushes the pipeline and writes everything again (batches of 1,000). Timed: from the
new process's start to the controller's read-back of every entry (P4Client's Read
of 10,000 entries was most of it on protobuf 3.20's pure-Python backend). Reported beside: when the
new process served P4Runtime, datagrams lost over all rounds, the longest run of loss.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.conftest import RATIOS, Progress
from ctrl.lab.probe import Endpoint, Probe, ProbeOptions
from ctrl.p4rt.build import BuildPaths
from ctrl.p4rt.entity import TableEntry, insert
from ctrl.p4rt.schema import P4Schema
from tests.packet.ovs_target import skip_without_ovs
from tests.packet.syncswitch import SyncSwitch
from tests.targets.ovs.rig import HOSTS, Rig, entries, rig

N = 10_000
BATCH = 1_000
TITLE = f"ovs-target killed and started again, {N:,} entries (median of rounds)"


@pytest.fixture
def r(tmp_path: Path) -> Iterator[Rig]:
    skip_without_ovs()
    with rig(tmp_path, "b") as made:
        yield made


def _bulk() -> list[TableEntry]:
    return [TableEntry("bridging", {"vnet_id": 20, "eth_dst": 0x020000200000 + i},
                       "bridging.forward", {"port": 1 + i % 2}) for i in range(N)]


def _read_all(sw: SyncSwitch, schema: P4Schema) -> int:
    return sum(len(sw.read_table(t.name)) for t in schema.tables) + len(
        sw.read_multicast_groups())


@pytest.mark.parametrize("mode", ["taken up", "pushed again"])
def test_restart(benchmark: Any, r: Rig, build_paths: BuildPaths, schema: P4Schema,
                 mode: str, progress: Progress) -> None:
    todo = [*entries(), *_bulk()]
    proc = [r.start()]
    election = [1]

    def connect() -> SyncSwitch:
        election[0] += 1
        sw = SyncSwitch(r.grpc_addr, 1, (0, election[0]))
        sw.open()
        return sw

    def push(sw: SyncSwitch) -> None:
        sw.set_pipeline(schema, build_paths.json.read_bytes())
        for i in range(0, len(todo), BATCH):
            sw.write([insert(e) for e in todo[i:i + BATCH]])

    progress(f"writing {len(todo):,} entries to the target")
    sw = connect()
    push(sw)
    sw.close()

    def kill() -> None:
        proc[0].kill()
        proc[0].wait()
        if mode == "pushed again":
            for journal in r.rundir.rglob("*.journal"):
                journal.unlink()

    serving: list[float] = []

    def restart() -> None:
        t0 = time.perf_counter()
        proc[0] = r.start()
        serving.append(time.perf_counter() - t0)
        sw = connect()
        try:
            if sw.call(sw.client.get_pipeline()) is None:
                push(sw)
            sw.client.schema = schema
            assert _read_all(sw, schema) == len(todo)
        finally:
            sw.close()

    a, b = (Endpoint(r.hosts[p], HOSTS[p][1]) for p in (1, 2))
    probe = Probe(a, b, ProbeOptions(udp_rate=1000, tcp_rate=0))
    probe.start()
    try:
        time.sleep(0.3)
        benchmark.pedantic(restart, setup=progress.rounds(3, "kill -9 and restart", kill),
                           rounds=3, iterations=1)
        time.sleep(0.3)
    finally:
        report = probe.stop()
        proc[0].terminate()
        proc[0].wait(10)
    rounds = benchmark.stats.stats.data
    lost = sum(u.lost for u in report.udp)
    longest = max(u.longest_loss_ms for u in report.udp)
    RATIOS.setdefault(TITLE, []).append(
        f"  {mode:<13} back in sync in {statistics.median(rounds) * 1e3:>7.0f} ms "
        f"(rounds {min(rounds) * 1e3:.0f}-{max(rounds) * 1e3:.0f}; serving P4Runtime after "
        f"{statistics.median(serving) * 1e3:.0f} ms); datagrams lost in 3 "
        f"restarts: {lost} of {sum(u.sent for u in report.udp)}, longest loss "
        f"{longest:.0f} ms")
    # Loss is reported, not asserted: alone it is 0 for "taken up" (and 200-230 for the
    # peer), but a CI run on a loaded 2-core machine lost 169 in gaps of at most 9 ms,
    # the userspace datapath and the probe starved while the new target started. What is
    # asserted is the read-back above: every entry is there after each restart.
