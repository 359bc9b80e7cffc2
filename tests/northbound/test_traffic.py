"""Rates from the switches' ingress counters: per port, per link both ways, per switch."""

from __future__ import annotations

import pytest

from ctrl.control.topology import PortRef, parse_topology
from ctrl.northbound.traffic import Rate, Reading, rates, reading, traffic_json
from ctrl.p4rt.entity import CounterData, TableEntry
from tests.topologies import TOPO


def test_rates_from_two_readings() -> None:
    before = Reading("s1", 10.0, {1: (100, 10_000), 2: (5, 500), 3: (7, 700)})
    after = Reading("s1", 12.0, {1: (300, 30_000), 2: (3, 300), 4: (9, 900)})
    got = rates(before, after)
    assert got[PortRef("s1", 1)] == Rate(100.0, 80_000.0)
    assert got[PortRef("s1", 2)] == Rate(1.5, 1_200.0)    # went back: counted from zero
    assert PortRef("s1", 3) not in got and PortRef("s1", 4) not in got
    assert rates(after, after) == {}                       # no time between: nothing


def test_traffic_json_links_both_ways_and_switch_totals() -> None:
    topo = parse_topology(TOPO)
    per_port = {PortRef("s2", 1): Rate(10, 8000), PortRef("s1", 1): Rate(4, 3200),
                PortRef("s1", 3): Rate(1, 800)}
    out = traffic_json(topo, per_port, 2.0, 7.0)
    (link,) = out["links"]
    assert (link["a"], link["b"]) == ("s1:1", "s2:1")
    assert link["a_to_b"] == {"pps": 10, "bps": 8000}      # what s2:1 received
    assert link["b_to_a"] == {"pps": 4, "bps": 3200}
    assert out["switches"] == {"s1": {"pps": 5, "bps": 4000}, "s2": {"pps": 10, "bps": 8000}}
    assert out["ports"]["s1:3"] == {"pps": 1, "bps": 800}
    assert (out["time"], out["interval"]) == (7.0, 2.0)


def test_reading_of_a_read_back_table() -> None:
    entries = [TableEntry("ingress_port", {"ingress_port": 3}, "ingress_port.set_fabric",
                          counter=CounterData(12, 3400)),
               TableEntry("ingress_port", {"ingress_port": 4}, "ingress_port.set_fabric")]
    r = reading("s1", entries, 3.0)
    assert r == Reading("s1", 3.0, {3: (12, 3400)})


@pytest.mark.parametrize("before,after,expected", [((0, 0), (0, 0), 0.0), ((5, 0), (9, 0), 2.0)])
def test_rates_over_two_seconds(before: tuple[int, int], after: tuple[int, int],
                                expected: float) -> None:
    got = rates(Reading("s", 0.0, {1: before}), Reading("s", 2.0, {1: after}))
    assert got[PortRef("s", 1)].pps == expected
