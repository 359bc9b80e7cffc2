"""The storm's report: percentiles by nearest rank, the table says what was measured."""

from __future__ import annotations

import json

from ctrl.lab.stormreport import ProbeLoss, Spread, StormReport, SwitchWrites


def test_spread_is_nearest_rank() -> None:
    s = Spread.of([float(x) for x in range(1, 101)])
    assert (s.n, s.min, s.p50, s.p90, s.p99, s.max) == (100, 1.0, 50.0, 90.0, 99.0, 100.0)
    assert Spread.of([]) == Spread(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert Spread.of([7.0]).p99 == 7.0


def test_the_table_and_json_say_what_was_measured() -> None:
    r = StormReport("sink target", 20, 40, 2, 10, 5, 9, ("02:00:00:00:00:01: c0",), 250.0, 60.0,
                    Spread.of([10.0, 20.0, 30.0]), (SwitchWrites("c0", 12, 3),
                                                    SwitchWrites("c1", 0, 0)),
                    notes=("CPU during the storm: controller 1.00 s",))
    table = "\n".join(r.table())
    assert "sink target" in table and "9 of 10" in table and "250.0 ms" in table
    assert "NOT converged: 02:00:00:00:00:01: c0" in table and "switches written" in table
    assert "1 of 20" in table and "note: CPU" in table
    doc = json.loads(r.to_json())
    assert doc["convergence"]["p50"] == 20.0 and doc["writes"][0]["updates"] == 12


def test_the_probe_says_which_vm_moved_and_how() -> None:
    probes = (ProbeLoss("vm1 -> vm2", "vm2", True, 1000, 3, 15.0, 40.0, 12.0),
              ProbeLoss("vm3 -> vm4", "vm4", False, 990, 0, 0.0, 9.0, 8.5),
              ProbeLoss("vm5 -> vm6", "", False, 500, 0, 0.0, 5.0, 5.0))
    r = StormReport("Open vSwitch target", 20, 40, 2, 10, 5, 10, (), 250.0, 60.0,
                    Spread.of([10.0]), (), probes=probes)
    table = r.table()
    assert any("probe vm1 -> vm2 (vm2 moved, announced)" in row
               and "3 of 1000 datagrams lost (longest run 15.0 ms)" in row
               and "the sender's own 12.0 ms" in row for row in table)
    assert any("probe vm3 -> vm4 (vm4 moved, unannounced)" in row for row in table)
    assert any(row.startswith("probe vm5 -> vm6 ") and "moved" not in row for row in table)
    assert json.loads(r.to_json())["probes"][1] == {
        "direction": "vm3 -> vm4", "moved": "vm4", "announced": False, "sent": 990,
        "lost": 0, "longest_loss_ms": 0.0, "longest_gap_ms": 9.0, "send_gap_ms": 8.5}
