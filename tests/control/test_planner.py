"""The planner's wanted state, checked by where frames go, not by what the entries say."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrl.control.diff import diff
from ctrl.control.planner import InFlight, PlacedVM, PlanError, Planner, placed
from ctrl.control.topology import PortRef, parse_topology
from ctrl.lab.fattree import fat_tree_topology
from ctrl.p4rt.entity import MulticastGroupEntry, Replica, TableEntry, UpdateType
from ctrl.p4rt.values import to_int
from tests.control.fakefabric import FakeFabric, Frame
from tests.topologies import TOPO

GW = to_int("02:00:00:00:00:01")


@pytest.fixture
def planner() -> Planner:
    return Planner(parse_topology(TOPO))


def vms() -> list[PlacedVM]:
    return [
        placed(10, "02:00:00:00:01:01", "10.0.1.1", PortRef("s1", 3)),
        placed(10, "02:00:00:00:01:02", "10.0.2.1", PortRef("s2", 3)),
        placed(10, "02:00:00:00:01:03", "10.0.3.1", PortRef("s3", 3)),
        placed(10, "02:00:00:00:01:04", "10.0.4.1", PortRef("s4", 3)),
    ]


def assert_all_reach(planner: Planner, placed_vms: list[PlacedVM]) -> None:
    fabric = FakeFabric(planner.topo, planner.wanted(placed_vms))
    for src, dst in itertools.permutations(placed_vms, 2):
        assert fabric.send(src.at, Frame(dst.mac)) == dst.at, (src, dst)
        # Routed through the distributed gateway, by IP alone.
        assert fabric.send(src.at, Frame(GW, dst.ip)) == dst.at, (src, dst)


def test_every_vm_reaches_every_other_by_mac_and_by_ip(planner: Planner) -> None:
    assert_all_reach(planner, vms())


def test_unknown_destination_is_dropped(planner: Planner) -> None:
    fabric = FakeFabric(planner.topo, planner.wanted(vms()))
    assert fabric.send(PortRef("s1", 3), Frame(0x02DEADBEEF00)) is None
    assert fabric.send(PortRef("s1", 3), Frame(GW, to_int("10.9.9.9"))) is None


def test_shortest_path_inside_a_site(planner: Planner) -> None:
    state = planner.wanted(vms())
    # s1 reaches s4 directly (one link), not through s2.
    entry = next(e for e in state["s1"] if isinstance(e, TableEntry) and e.table == "bridging"
                 and e.match["eth_dst"] == to_int("02:00:00:00:01:04"))
    assert entry.params == {"port": 2}


def test_cross_site_goes_through_one_tunnel(planner: Planner) -> None:
    state = planner.wanted(vms())
    tunnels = [e for e in state["s1"] if isinstance(e, TableEntry) and e.table == "tunnel_encap"]
    assert len(tunnels) == 1
    assert tunnels[0].params["dst_addr"] == to_int("198.51.100.1")
    to_vm3 = [e for e in state["s2"] if isinstance(e, TableEntry) and e.table == "bridging"
              and e.match["eth_dst"] == to_int("02:00:00:00:01:03")]
    assert to_vm3[0].action == "bridging.forward"  # toward the gateway, not a tunnel


def test_migration_across_sites_writes_only_what_changes(planner: Planner) -> None:
    before = vms()
    after = [*before[:1], placed(10, "02:00:00:00:01:02", "10.0.2.1", PortRef("s3", 4)),
             *before[2:]]
    assert_all_reach(planner, after)
    old, new = planner.wanted(before), planner.wanted(after)
    changes = {sw: diff(new[sw], old[sw]) for sw in new}
    # The VM's own entries move; nothing about the other VMs is rewritten.
    moved_mac = to_int("02:00:00:00:01:02")
    for sw, d in changes.items():
        for u in d.updates():
            e = u.entity
            assert isinstance(e, TableEntry)
            assert e.table in ("bridging", "ingress_port"), (sw, e)
            if e.table == "bridging":
                assert e.match["eth_dst"] == moved_mac
    # s3: the new access port is added, its tunnel entry becomes a local port.
    assert [u.type for u in changes["s3"].updates()] == [UpdateType.INSERT, UpdateType.MODIFY]
    assert {u.type for u in changes["s2"].updates()} == {UpdateType.MODIFY, UpdateType.DELETE}


def test_site_without_gateway_is_a_clear_error() -> None:
    topo = parse_topology(TOPO.replace(", underlay: {ip: 198.51.100.1, port: 9}", ""))
    planner = Planner(topo)
    with pytest.raises(PlanError, match="site b has no switch with an underlay"):
        planner.wanted(vms())


def test_in_flight_vm_gets_every_frame_at_both_locations(planner: Planner) -> None:
    """vm2 announced to move from s2:3 to s4:4 (same site): until its RARP, every frame
    for it reaches both, exactly once each, from every other VM, by MAC and by IP."""
    placed_vms = vms()
    vm2 = placed_vms[1]
    flight = InFlight(PortRef("s4", 4), group=7)
    state = planner.wanted(placed_vms, {flight.to: 10}, {(vm2.vnet, vm2.mac): flight})
    fabric = FakeFabric(planner.topo, state)
    both = [PortRef("s2", 3), PortRef("s4", 4)]
    for src in (placed_vms[0], placed_vms[2], placed_vms[3]):
        assert fabric.deliver(src.at, Frame(vm2.mac)) == both, src
        assert fabric.deliver(src.at, Frame(GW, vm2.ip)) == both, src
    # Where both paths leave by the same port, nothing is replicated.
    s1 = [e for e in state["s1"] if isinstance(e, TableEntry) and e.table == "bridging"
          and e.match["eth_dst"] == vm2.mac]
    assert [e.action for e in s1] in (["bridging.forward"], ["bridging.flood"])
    # Other VMs are untouched by the flight.
    assert_all_reach(planner, placed_vms)
    # The RARP lands it: one location again, and the groups are gone.
    landed = [*placed_vms[:1], placed(10, "02:00:00:00:01:02", "10.0.2.1", flight.to),
              *placed_vms[2:]]
    after = planner.wanted(landed)
    assert not any(isinstance(e, MulticastGroupEntry) for es in after.values() for e in es)
    for sw in after:
        d = diff(after[sw], state[sw])
        assert all(u.type is UpdateType.DELETE for u in d.deletes)
    assert_all_reach(planner, landed)


def test_in_flight_across_sites_gets_every_frame_at_both_locations(planner: Planner) -> None:
    """vm2 announced to move from s2:3 (site a) to s3:4 (site b): from either site, by MAC
    and by IP, every frame reaches both places once, through the tunnel for the far one."""
    placed_vms = vms()
    vm2 = placed_vms[1]
    flight = InFlight(PortRef("s3", 4), group=7)
    state = planner.wanted(placed_vms, {flight.to: 10}, {(vm2.vnet, vm2.mac): flight})
    fabric = FakeFabric(planner.topo, state)
    both = [PortRef("s2", 3), PortRef("s3", 4)]
    for src in (placed_vms[0], placed_vms[2], placed_vms[3]):
        assert fabric.deliver(src.at, Frame(vm2.mac)) == both, src
        assert fabric.deliver(src.at, Frame(GW, vm2.ip)) == both, src
    # Each gateway's copy into the tunnel is a replica out of its underlay port whose
    # instance is the tunnel's id.
    groups = {sw: [e for e in es if isinstance(e, MulticastGroupEntry)]
              for sw, es in state.items()}
    assert groups["s1"] == [MulticastGroupEntry(7, (Replica(1), Replica(
        9, planner.tunnel_id("s1", "s3"))))]
    assert groups["s3"] == [MulticastGroupEntry(7, (Replica(4), Replica(
        9, planner.tunnel_id("s3", "s1"))))]
    assert groups["s4"] == []
    # Without the tunnels (they come up with the announcement) the old place only.
    fabric = FakeFabric(planner.topo, planner.wanted(
        placed_vms, {flight.to: 10}, {(vm2.vnet, vm2.mac): flight}, up=frozenset()))
    assert fabric.deliver(placed_vms[0].at, Frame(vm2.mac)) == [PortRef("s2", 3)]


def multi_site_topology(sites: list[tuple[int, list[tuple[int, int]]]]) -> str:
    """Sites of n switches (x0 the gateway, chained, and extra links), a hypervisor port
    on each switch, a routed virtual network."""
    lines = ["sites: {" + ", ".join(f"x{i}: {{}}" for i in range(len(sites))) + "}",
             "switches:"]
    links, k = [], 0
    for i, (n, extra) in enumerate(sites):
        for j in range(n):
            under = f", underlay: {{ip: 192.0.2.{i + 1}, port: 9}}" if j == 0 else ""
            lines.append(f'  x{i}s{j}: {{site: x{i}, device_id: {10 * i + j + 1}, '
                         f'grpc_addr: "127.0.0.1:{10 * i + j + 1}"{under}}}')
        pairs = {(j, j + 1) for j in range(n - 1)} | {(min(a, b), max(a, b)) for a, b in extra
                                                      if a != b and max(a, b) < n}
        for a, b in sorted(pairs):
            links.append(f"  - [x{i}s{a}:{100 + k}, x{i}s{b}:{200 + k}]")
            k += 1
    lines += ["links:", *links] if links else ["links: []"]
    lines.append("hypervisors:")
    for i, (n, _) in enumerate(sites):
        lines += [f"  h{i}_{j}: {{switch: x{i}s{j}, port: 10}}" for j in range(n)]
    lines.append('vnets:\n  blue: {id: 10, gateway_mac: "02:00:00:00:00:01"}')
    return "\n".join(lines) + "\n"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 4).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                         max_size=n))), min_size=2, max_size=3), st.data())
def test_in_flight_across_sites_is_exact_on_any_fabric(
        sites: list[tuple[int, list[tuple[int, int]]]], data: st.DataObject) -> None:
    """Two or three sites of any shape: a VM in flight from anywhere to anywhere gets every
    frame from every switch at both places once (none looped back through a tunnel)."""
    topo = parse_topology(multi_site_topology(sites))
    planner = Planner(topo)
    names = sorted(topo.switches)
    others = [placed(10, 0x020000000100 + i, 0x0A000100 + i, PortRef(sw, 10))
              for i, sw in enumerate(names)]
    old_sw, new_sw = data.draw(st.sampled_from(names)), data.draw(st.sampled_from(names))
    vm = placed(10, 0x020000000999, 0x0A000999, PortRef(old_sw, 20))
    flight = InFlight(PortRef(new_sw, 21), group=3)
    state = planner.wanted([*others, vm], {flight.to: 10}, {(vm.vnet, vm.mac): flight})
    fabric = FakeFabric(topo, state)
    both = sorted([vm.at, flight.to], key=lambda x: (x.switch, x.port))
    for src in others:
        assert fabric.deliver(src.at, Frame(vm.mac)) == both, (src, sites)
        assert fabric.deliver(src.at, Frame(GW, vm.ip)) == both, (src, sites)


@settings(max_examples=40, deadline=None)
@given(st.integers(3, 8).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=2 * n),
    st.integers(0, n - 1), st.integers(0, n - 1))))
def test_in_flight_delivery_is_exact_on_any_fabric(case: tuple[int, list[tuple[int, int]],
                                                                  int, int]) -> None:
    n, extra, old_sw, new_sw = case
    # a spanning chain keeps it connected; extra links make loops and equal-cost paths
    pairs = {(i, i + 1) for i in range(n - 1)} | {(min(a, b), max(a, b)) for a, b in extra
                                                  if a != b}
    links = "\n".join(f"  - [s{a}:{100 + k}, s{b}:{200 + k}]" for k, (a, b) in
                      enumerate(sorted(pairs)))
    switches = "\n".join(f'  s{i}: {{device_id: {i + 1}, grpc_addr: "127.0.0.1:{i + 1}"}}'
                         for i in range(n))
    topo = parse_topology(f"switches:\n{switches}\nlinks:\n{links}\nhypervisors:\n"
                          "  h0: {switch: s0, port: 10}\n"
                          "vnets:\n  blue: {id: 10, gateway_mac: \"02:00:00:00:00:01\"}\n")
    planner = Planner(topo)
    others = [placed(10, 0x020000000100 + i, 0x0A000100 + i, PortRef(f"s{i}", 10))
              for i in range(n)]
    vm = placed(10, 0x020000000999, 0x0A000999, PortRef(f"s{old_sw}", 20))
    flight = InFlight(PortRef(f"s{new_sw}", 21), group=3)
    state = planner.wanted([*others, vm], {flight.to: 10}, {(vm.vnet, vm.mac): flight})
    fabric = FakeFabric(topo, state)
    both = sorted([vm.at, flight.to], key=lambda x: (x.switch, x.port))
    for src in others:
        assert fabric.deliver(src.at, Frame(vm.mac)) == both, (src, sorted(pairs))
        assert fabric.deliver(src.at, Frame(GW, vm.ip)) == both, (src, sorted(pairs))


def _link(planner: Planner, a: str, b: str):  # type: ignore[no-untyped-def]
    return next(x for x in planner.topo.links if {x.a.switch, x.b.switch} == {a, b})


def test_a_link_down_is_routed_around(planner: Planner) -> None:
    assert planner.set_links_down({_link(planner, "s1", "s2")})
    assert planner.path("s1", "s2") == ["s1", "s4", "s2"]
    assert_all_reach(planner, vms())
    assert planner.set_links_down(set())
    assert planner.path("s1", "s2") == ["s1", "s2"]
    assert_all_reach(planner, vms())


def test_a_switch_cut_off_by_links_down_plans_without_failing(planner: Planner) -> None:
    """s1 loses both its fabric links: nothing reaches across the cut (frames miss and are
    dropped, they do not loop), everything else still does, and nothing raises."""
    planner.set_links_down({_link(planner, "s1", "s2"), _link(planner, "s1", "s4")})
    placed_vms = vms()
    fabric = FakeFabric(planner.topo, planner.wanted(placed_vms))
    on_s1 = [v for v in placed_vms if v.at.switch == "s1"]
    elsewhere = [v for v in placed_vms if v.at.switch in ("s2", "s4")]
    for src, dst in itertools.permutations(placed_vms, 2):
        got = fabric.send(src.at, Frame(dst.mac))
        if (src in on_s1) != (dst in on_s1) and dst.at.switch != "s3" and \
                src.at.switch != "s3":
            assert got is None, (src, dst)
        elif src in elsewhere and dst in elsewhere:
            assert got == dst.at, (src, dst)


def test_forwarding_follows_links_down_after_being_kept(planner: Planner) -> None:
    vm = vms()[3]   # at s4
    before = planner.forwarding(planner.topo.switches, vm.at)
    assert before["s1"] == planner.forwarding(["s1"], vm.at)["s1"]   # kept, the same
    link = next(x for x in planner.topo.links if {x.a.switch, x.b.switch} == {"s1", "s4"})
    planner.set_links_down([link])
    fresh = Planner(planner.topo)
    fresh.set_links_down([link])
    after = planner.forwarding(planner.topo.switches, vm.at)
    assert after == fresh.forwarding(planner.topo.switches, vm.at)
    assert after["s1"] != before["s1"]   # around the link down, not through it
    assert_all_reach(planner, vms())


def test_forwarding_over_a_set_of_switches_is_the_same_as_over_a_list() -> None:
    """A host's reach (a set) takes forwarding's shortcut on one site: the same answer."""
    topo = fat_tree_topology(4)
    planner = Planner(topo)
    edges = sorted({h.attach for h in topo.hypervisors.values()}, key=str)
    some = frozenset(sorted(topo.switches)[::3])
    for at in edges:
        for flight in [None, *(InFlight(to, 7) for to in edges if to != at)]:
            for switches in (frozenset(topo.switches), some):
                assert planner.forwarding(switches, at, flight) == planner.forwarding(
                    sorted(switches), at, flight), (at, flight)
