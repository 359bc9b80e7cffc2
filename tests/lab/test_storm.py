"""`ctrl lab storm` on the sink target, small (a k=4 fat-tree, 40 VMs): every move
converges, the report counts what the controller wrote, and nothing it started is left
running. The big runs (k=16, 1,000 VMs moving) are `ctrl lab storm` by hand (README)."""

from __future__ import annotations

import json
from pathlib import Path

from ctrl.cli import main
from ctrl.lab import procs
from ctrl.lab.fattree import scale_hosts
from ctrl.lab.storm import SinkFabric, storm


def test_a_storm_converges_and_is_reported(tmp_path: Path, capsys: object) -> None:
    out = tmp_path / "out"
    code = main(["lab", "storm", "--k", "4", "--vms", "40", "--vnets", "2", "--moves", "6,12",
                 "--announced", "0.5", "--work-dir", str(tmp_path / "work"),
                 "--out", str(out)])
    assert code == 0
    reports = json.loads((out / "storm.json").read_text())
    assert [r["moves"] for r in reports] == [6, 12]
    for r in reports:
        assert r["converged"] == r["moves"] and r["announced"] == r["moves"] // 2
        assert r["convergence"]["n"] == r["moves"] and r["total_ms"] > 0
        assert sum(w["updates"] for w in r["writes"]) > 0
        assert "sink target" in r["fabric"]


def test_the_fabric_leaves_nothing_running(tmp_path: Path) -> None:
    hosts = scale_hosts(4, 20, 2, "pod")
    with SinkFabric(tmp_path, hosts) as fabric:
        started = list(fabric.started)
        report = storm(fabric, hosts.moves(4, 3), 0)
        assert report.converged == 4 and report.announced == 0
    assert not any(procs.is_running(p) for p in started)
