"""A controller killed and another started from a topology with no VMs, on the sink target
(small: a k=4 fat-tree, 200 VMs): every host adopted from what the switches hold, every
switch in sync, nothing written. The 100,000-VM run is bench/bench_scale.py with
VM_MOBILITY_BIG=1."""

from __future__ import annotations

from pathlib import Path

from ctrl.lab.coldstart import cold_start, cold_starts


def test_a_cold_start_adopts_every_host_and_writes_nothing(tmp_path: Path) -> None:
    r = cold_start(4, 200, 8, "pod", tmp_path)
    assert r.hosts_adopted == 200 and r.written == 0
    assert r.entries > 200 and r.switches == 20
    assert r.in_sync_s > 0 and r.rss_mb > 0 and r.peak_mb >= r.rss_mb
    assert r.cpu_s > 0 and r.load >= 0


def test_switches_filled_once_serve_several_cold_starts(tmp_path: Path) -> None:
    runs = cold_starts(4, 50, 4, "pod", tmp_path, 2)
    assert [(r.hosts_adopted, r.written) for r in runs] == [(50, 0), (50, 0)]
    assert runs[0].entries == runs[1].entries and runs[0].fill_s == runs[1].fill_s
