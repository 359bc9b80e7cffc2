"""The planner's wanted state, checked by where frames go, not by what the entries say."""

from __future__ import annotations

import itertools

import pytest

from ctrl.diff import diff
from ctrl.hosts import Location
from ctrl.p4entity import TableEntry, UpdateType
from ctrl.p4values import to_int
from ctrl.planner import PlacedVM, PlanError, Planner, placed
from ctrl.topology import parse_topology
from tests.fakefabric import FakeFabric, Frame

TOPO = """\
sites: {a: {}, b: {}}
switches:
  s1: {site: a, device_id: 1, grpc_addr: "127.0.0.1:1", underlay: {ip: 192.0.2.1, port: 9}}
  s2: {site: a, device_id: 2, grpc_addr: "127.0.0.1:2"}
  s4: {site: a, device_id: 4, grpc_addr: "127.0.0.1:4"}
  s3: {site: b, device_id: 3, grpc_addr: "127.0.0.1:3", underlay: {ip: 198.51.100.1, port: 9}}
links:
  - [s1:1, s2:1]
  - [s2:2, s4:1]
  - [s1:2, s4:2]
hypervisors:
  h1: {switch: s1, port: 3}
  h2: {switch: s2, port: 3}
  h3: {switch: s3, port: 3}
  h4: {switch: s4, port: 3}
vnets:
  blue: {id: 10, gateway_mac: "02:00:00:00:00:01"}
"""
GW = to_int("02:00:00:00:00:01")


@pytest.fixture
def planner() -> Planner:
    return Planner(parse_topology(TOPO))


def vms() -> list[PlacedVM]:
    return [
        placed(10, "02:00:00:00:01:01", "10.0.1.1", Location("s1", 3)),
        placed(10, "02:00:00:00:01:02", "10.0.2.1", Location("s2", 3)),
        placed(10, "02:00:00:00:01:03", "10.0.3.1", Location("s3", 3)),
        placed(10, "02:00:00:00:01:04", "10.0.4.1", Location("s4", 3)),
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
    assert fabric.send(Location("s1", 3), Frame(0x02DEADBEEF00)) is None
    assert fabric.send(Location("s1", 3), Frame(GW, to_int("10.9.9.9"))) is None


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
    after = [*before[:1], placed(10, "02:00:00:00:01:02", "10.0.2.1", Location("s3", 4)),
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


def test_make_before_break_order(planner: Planner) -> None:
    order = planner.order_switches(Location("s4", 3), Location("s2", 3))
    assert order[0] == "s4"
    assert order[-1] == "s2"  # the old location last
    assert order.index("s1") < order.index("s3")  # nearer switches first


def test_site_without_gateway_is_a_clear_error() -> None:
    topo = parse_topology(TOPO.replace(", underlay: {ip: 198.51.100.1, port: 9}", ""))
    planner = Planner(topo)
    with pytest.raises(PlanError, match="site b has no switch with an underlay"):
        planner.wanted(vms())
