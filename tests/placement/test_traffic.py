"""The traffic meter: what entered the fabric at each switch toward a VM, recovered from
the bridging counters along its tree (within a site and through a GRE tunnel), and every
interval the tree changed under discarded."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrl.control.planner import Planner
from ctrl.control.topology import parse_topology
from ctrl.p4rt.entity import CounterData, TableEntry
from ctrl.p4rt.values import to_int
from ctrl.placement.traffic import Count, TrafficMeter, Wiring, counts_of, ingress
from tests.topologies import TOPO, VMS

TOPOLOGY = parse_topology(TOPO + VMS)
WIRING = Wiring.of(TOPOLOGY, Planner(TOPOLOGY).tunnels())
VM2 = (10, 0x020000000102)   # at h2 = s2:3


def tree_for_vm2(up: bool = True) -> dict[str, tuple[str, int]]:
    """The planner's entries toward vm2 at s2:3: s1 -> s2 (port 1), s4 -> s2 (port 1),
    s3 (the far site's gateway) through its tunnel to s1, or to the CPU when it is down."""
    planner = Planner(TOPOLOGY)
    from ctrl.control.planner import PlacedVM
    from ctrl.control.topology import PortRef

    vm = PlacedVM(VM2[0], VM2[1], None, PortRef("s2", 3))
    tunnels: frozenset[tuple[str, str]] | None = None if up else frozenset()
    out = {}
    for sw in TOPOLOGY.switches:
        e = planner.toward(sw, vm, tunnels)
        assert e is not None
        out[sw] = (e.action.rpartition(".")[2], to_int(next(iter(e.params.values()), 0)))
    return out


def counts(tree: dict[str, tuple[str, int]], packets: dict[str, int]) -> dict[str, Count]:
    return {sw: Count(a, arg, 100 * packets.get(sw, 0), packets.get(sw, 0))
            for sw, (a, arg) in tree.items()}


def carried(tree: dict[str, tuple[str, int]], entered: dict[str, int]) -> dict[str, int]:
    """The counter each switch shows when `entered` packets came in at each switch: what
    entered there plus what its upstream switches sent it."""
    root = WIRING.root({sw: Count(a, arg, 0, 0) for sw, (a, arg) in tree.items()})
    out = dict.fromkeys(tree, 0)
    for start, n in entered.items():
        sw: str | None = start
        hops = 0
        while sw is not None and hops <= len(tree):
            out[sw] += n
            a, arg = tree[sw]
            sw = WIRING.downstream(sw, Count(a, arg, 0, 0), root)
            hops += 1
    return out


def test_the_planner_tree_is_what_the_wiring_follows() -> None:
    tree = tree_for_vm2()
    assert tree["s2"] == ("forward", 3)        # the VM's own port
    assert tree["s1"] == ("forward", 1) and tree["s4"] == ("forward", 1)
    assert tree["s3"][0] == "to_tunnel"
    root = WIRING.root({sw: Count(a, arg, 0, 0) for sw, (a, arg) in tree.items()})
    assert root == "s2"
    assert WIRING.downstream("s3", Count(*tree["s3"], 0, 0), root) == "s1"
    down = tree_for_vm2(up=False)
    assert down["s3"] == ("to_cpu", 0)
    assert WIRING.downstream("s3", Count("to_cpu", 0, 0, 0), root) == "s1"


@pytest.mark.parametrize("up", [True, False])
def test_ingress_per_switch_within_a_site_and_through_the_tunnel(up: bool) -> None:
    tree = tree_for_vm2(up)
    entered = {"s1": 7, "s2": 3, "s3": 11, "s4": 5}
    before = counts(tree, {"s1": 40, "s2": 90, "s3": 2, "s4": 0})
    seen = carried(tree, entered)
    assert seen == {"s1": 18, "s2": 26, "s3": 11, "s4": 5}
    after = counts(tree, {sw: n + seen[sw] for sw, n in
                          {"s1": 40, "s2": 90, "s3": 2, "s4": 0}.items()})
    assert ingress(WIRING, before, after) == entered


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["s1", "s2", "s3", "s4"]), st.integers(0, 10**6)),
       st.dictionaries(st.sampled_from(["s1", "s2", "s3", "s4"]), st.integers(0, 10**9)))
def test_ingress_recovers_what_entered_wherever_it_entered(entered: dict[str, int],
                                                          start: dict[str, int]) -> None:
    tree = tree_for_vm2()
    seen = carried(tree, entered)
    before = counts(tree, start)
    after = counts(tree, {sw: start.get(sw, 0) + seen[sw] for sw in tree})
    assert ingress(WIRING, before, after) == {sw: entered.get(sw, 0) for sw in tree}


def test_counts_from_a_bridging_read() -> None:
    entries = [
        TableEntry("bridging", {"vnet_id": 10, "eth_dst": 0x020000000102}, "bridging.forward",
                   {"port": 3}, counter=CounterData(5, 500)),
        TableEntry("bridging", {"vnet_id": 10, "eth_dst": 0x020000000101},
                   "bridging.to_tunnel", {"tunnel_id": 2}, counter=CounterData(1, 64)),
        TableEntry("bridging", {"vnet_id": 10, "eth_dst": 0x020000000103}, "bridging.to_cpu",
                   counter=CounterData(0, 0)),
        TableEntry("bridging", {"vnet_id": 10, "eth_dst": 0x020000000104}, "bridging.drop"),
        TableEntry("routing_v4", {"vnet_id": 10, "ipv4_dst": 1}, "routing_v4.drop",
                   counter=CounterData(1, 1)),
    ]
    assert counts_of(entries) == {
        (10, 0x020000000102): Count("forward", 3, 500, 5),
        (10, 0x020000000101): Count("to_tunnel", 2, 64, 1),
        (10, 0x020000000103): Count("to_cpu", 0, 0, 0)}


@pytest.mark.parametrize(("change", "why"), [
    ({"s1": Count("forward", 2, 4000, 40)}, "its entry on s1 changed"),
    ({"s4": Count("forward", 1, 0, 0)}, "its counter on s4 went back"),
    ({"s2": Count("flood", 1, 9000, 90)}, "in flight"),
])
def test_an_interval_the_tree_changed_in_is_not_used(change: dict[str, Count], why: str
                                                     ) -> None:
    tree = tree_for_vm2()
    before = counts(tree, {"s1": 40, "s2": 90, "s3": 2, "s4": 7})
    after = {**counts(tree, {"s1": 41, "s2": 95, "s3": 2, "s4": 8}), **change}
    result = ingress(WIRING, before, after)
    assert isinstance(result, str) and why in result
    gone = dict(after)
    del gone["s3"]
    assert "gone: s3" in str(ingress(WIRING, before, gone))


def meter_with(packets: dict[str, int]) -> tuple[TrafficMeter, dict[str, tuple[str, int]]]:
    meter = TrafficMeter(WIRING, smoothing=2.0)
    tree = tree_for_vm2()
    meter.observe({sw: {VM2: c} for sw, c in counts(tree, carried(tree, packets)).items()},
                  0.0, {VM2})
    return meter, tree


def test_rates_are_smoothed_over_time_and_decay_when_traffic_stops() -> None:
    meter, tree = meter_with({})
    total = dict.fromkeys(tree, 0)
    for second in range(1, 11):
        for sw, n in carried(tree, {"s4": 100}).items():
            total[sw] += n
        assert meter.observe({sw: {VM2: c} for sw, c in counts(tree, total).items()},
                             float(second), {VM2})
    d = meter.demand(VM2)
    assert d.last == {"s4": 100.0}
    assert 100 * (1 - math.exp(-10 / 2.0)) - 1e-6 <= d.smoothed["s4"] <= 100.0
    assert set(d.smoothed) == {"s4"} and d.intervals == 10
    for second in range(11, 40):   # nothing more: the demand fades, then goes
        meter.observe({sw: {VM2: c} for sw, c in counts(tree, total).items()},
                      float(second), {VM2})
    assert meter.demand(VM2).smoothed == {}


def test_a_move_inside_the_interval_and_a_partial_reading_keep_the_demand() -> None:
    meter, tree = meter_with({"s4": 10})
    meter.observe({sw: {VM2: c} for sw, c in counts(tree, carried(tree, {"s4": 110})).items()},
                  1.0, {VM2})
    kept = dict(meter.demand(VM2).smoothed)
    assert kept and meter.demand(VM2).intervals == 1
    meter.moved(VM2, 1.5)
    meter.observe({sw: {VM2: c} for sw, c in counts(tree, carried(tree, {"s4": 910})).items()},
                  2.0, {VM2})
    d = meter.demand(VM2)
    assert d.smoothed == kept and d.discarded == "it moved during the interval" and d.skipped == 1
    # A reading that misses a switch is no interval: the next full one spans both.
    partial = {sw: {VM2: c} for sw, c in counts(tree, carried(tree, {"s4": 1000})).items()
               if sw != "s3"}
    assert not meter.observe(partial, 3.0, {VM2})
    assert meter.partial == 1 and meter.demand(VM2).smoothed == kept
    meter.observe({sw: {VM2: c} for sw, c in counts(tree, carried(tree, {"s4": 1110})).items()},
                  4.0, {VM2})
    assert meter.demand(VM2).last == {"s4": 100.0}   # 200 packets over 2 s


def test_a_vm_no_longer_watched_is_forgotten() -> None:
    meter, tree = meter_with({"s4": 10})
    meter.observe({sw: {VM2: c} for sw, c in counts(tree, carried(tree, {"s4": 50})).items()},
                  1.0, {VM2})
    assert meter.demand(VM2).smoothed
    assert not meter.observe({}, 2.0, set())   # no switch read: no interval
    assert VM2 in meter.demands
    meter.observe({sw: {} for sw in tree}, 3.0, set())
    assert VM2 not in meter.demands
    with pytest.raises(ValueError, match="smoothing"):
        TrafficMeter(WIRING, smoothing=0)


def test_reads_a_moment_apart_cancel_out_rather_than_add_up() -> None:
    """s2 is read a little after s4 each time: packets that entered at s4 just after its
    read show at s2 first (a phantom there), at s4 the next time (and s2 comes out short
    as much). Clamped interval by interval, s2 would keep a phantom client; averaged, the
    errors cancel."""
    tree = tree_for_vm2()
    meter = TrafficMeter(WIRING, smoothing=2.0)
    s4 = s2 = 0
    for second in range(30):
        skew = 10 if second % 2 == 0 else 0   # packets s2 saw that s4's read missed
        counts_now = counts(tree, {"s4": s4 - skew, "s2": s2, "s1": 0, "s3": 0})
        meter.observe({sw: {VM2: c} for sw, c in counts_now.items()}, float(second), {VM2})
        s4 += 100
        s2 += 100
    d = meter.demand(VM2)
    assert set(d.smoothed) == {"s4"} and abs(d.smoothed["s4"] - 100) < 10
    assert abs(d.mean.get("s2", 0.0)) < 6
