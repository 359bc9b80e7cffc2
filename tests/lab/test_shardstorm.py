"""`ctrl lab storm --shards N`: sites of their own, each a controller and a sink target,
the storms started together and reported on one clock. Small for real (two k=4 sites);
the combining of the sites' reports on its own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ctrl.cli import main
from ctrl.lab.shardstorm import ShardRun, combine, deal
from ctrl.lab.spec import LabError
from ctrl.lab.stormreport import Spread, StormReport, SwitchWrites


def test_moves_and_vms_are_dealt_evenly() -> None:
    assert deal(10, 4) == [3, 3, 2, 2]
    assert deal(1000, 4) == [250] * 4
    assert sum(deal(7, 3)) == 7
    with pytest.raises(LabError, match="one or more"):
        deal(10, 0)


def _report(moves: int, total_ms: float, switch: str, cpu: float) -> StormReport:
    return StormReport("sink", 20, 40, 2, moves, moves // 2, moves, (), total_ms, 3.0,
                       Spread.of([1.0] * moves), (SwitchWrites(switch, 7, 2),),
                       extra={"cpu_s": {"sink-target": cpu, "controller": 2 * cpu},
                              "load": 1.5})


def test_the_sites_are_put_on_one_clock() -> None:
    runs = [ShardRun(_report(3, 100.0, "e0", 0.1), 10.0, (5.0, 6.0, 7.0)),
            ShardRun(_report(2, 80.0, "e0", 0.2), 10.05, (50.0, 60.0))]
    r = combine(runs, 4, 2)
    # the second site began 50 ms later and took 80 ms: the storm ends at 130 ms
    assert r.total_ms == pytest.approx(130.0)
    assert (r.switches, r.vms, r.moves, r.announced, r.converged) == (40, 80, 5, 2, 5)
    assert r.convergence == Spread.of([5.0, 6.0, 7.0, 50.0, 60.0])
    assert [w.switch for w in r.writes] == ["site1/e0", "site2/e0"]
    assert "2 shards" in r.fabric and "not simulated" in r.fabric
    assert any("controllers 0.60 s, sinks 0.30 s" in n for n in r.notes)
    with pytest.raises(ValueError):
        combine([], 4)


def test_a_two_site_storm_converges_and_leaves_nothing(tmp_path: Path) -> None:
    out, work = tmp_path / "out", tmp_path / "work"
    code = main(["lab", "storm", "--shards", "2", "--k", "4", "--vms", "40", "--vnets", "2",
                 "--moves", "8", "--announced", "0.5", "--work-dir", str(work),
                 "--out", str(out)])
    assert code == 0
    [r] = json.loads((out / "storm.json").read_text())
    assert r["moves"] == r["converged"] == 8 and r["announced"] == 4
    assert r["switches"] == 40 and r["convergence"]["n"] == 8
    sites = {w["switch"].split("/")[0] for w in r["writes"] if w["updates"]}
    assert sites == {"site1", "site2"}
    assert r["extra"]["shards"] == 2
    assert (work / "site1" / "controller.log").exists()
    assert (work / "site2" / "controller.log").exists()
    assert _running_in(work) == []   # every sink and controller stopped


def _running_in(work: Path) -> list[str]:
    """Processes whose command line names the work directory (the sinks' control
    sockets and the controllers' topologies are in it)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(str(work).encode() in a for a in argv):
            found.append(f"{proc.name}: {b' '.join(argv).decode(errors='replace')}")
    return found


def test_shards_are_refused_off_the_sink(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    code = main(["lab", "--state-dir", str(tmp_path), "storm", "--target", "ovs",
                 "--shards", "2", "--out", str(tmp_path / "out")])
    assert code != 0
    assert "--shards 2: on the sink target only" in capsys.readouterr().err
    assert not (tmp_path / "out" / "storm.json").exists()


def test_ctrl_c_in_the_storm_brings_every_site_down(tmp_path: Path) -> None:
    """Ctrl-C while the sites' storms run (a thread each), one site's controller hung
    (SIGSTOP): every controller and sink stopped within seconds (the hung one by SIGKILL
    after its SIGINT and SIGTERM waits), not after that site's calls time out."""
    work = tmp_path / "work"
    argv = [sys.executable, "-c", CTRL_C, "lab", "storm", "--shards", "2", "--k", "4",
            "--vms", "40", "--vnets", "2", "--moves", "8,8,8,8,8,8,8,8", "--work-dir",
            str(work), "--out", str(tmp_path / "out")]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as proc:
        try:
            assert proc.stdout is not None
            seen = []
            for line in proc.stdout:
                seen.append(line)
                if "site1: storm:" in line:   # site1's storm has begun: hang its controller
                    [hung] = [int(p.split(":")[0]) for p in _running_in(work / "site1")
                              if " serve " in p]
                    os.kill(hung, signal.SIGSTOP)
                    time.sleep(0.5)
                    proc.send_signal(signal.SIGINT)
                    break
            sent = time.monotonic()
            rest, _ = proc.communicate(timeout=90)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:   # the test failed: leave nothing behind
                proc.kill()
                for left in _running_in(work):
                    os.kill(int(left.split(":")[0]), signal.SIGKILL)
    assert proc.returncode not in (None, 0), "".join(seen) + rest
    assert took < 30, f"{took:.1f} s after Ctrl-C"
    assert _running_in(work) == []


# `ctrl` as a terminal starts it: SIGINT's default handler (a suite run in the background
# inherits SIGINT ignored).
CTRL_C = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from ctrl.cli import main
sys.exit(main(sys.argv[1:]))
"""
