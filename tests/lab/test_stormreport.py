"""The storm's report: percentiles by nearest rank, the table says what was measured."""

from __future__ import annotations

import json

from ctrl.lab.stormreport import Spread, StormReport, SwitchWrites


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
