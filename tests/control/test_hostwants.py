"""The hosts' derived entries: the Diffs `set` returns turn what the switches hold into
exactly `on_switch`, every host of a virtual network reaches every other (and one in
flight is reached at both places), each entry is the reference planner's, and only the
switches its network's frames cross hold a host at all."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ctrl.control.compactwant import CompactWanted
from ctrl.control.diff import Diff
from ctrl.control.footprint import crossing
from ctrl.control.held import HeldReader
from ctrl.control.hostwants import HostWants, Placed
from ctrl.control.planner import InFlight, Planner, placed
from ctrl.control.topology import PortRef, Topology, VNet, parse_topology
from ctrl.lab.fattree import fat_tree_topology
from ctrl.p4rt.entity import Entity, TableEntry, UpdateType
from ctrl.p4rt.schema import P4Schema
from ctrl.p4rt.values import to_int
from tests.control.fakefabric import FakeFabric, Frame
from tests.topologies import CHAIN, TOPO

TOPOLOGIES = {"topo": parse_topology(TOPO), "chain": parse_topology(CHAIN),
              "fat": fat_tree_topology(4)}
HOSTS = 6


def _ports(topo: Topology) -> list[PortRef]:
    return sorted(h.attach for h in topo.hypervisors.values())


def _apply(held: dict[str, dict[object, Entity]], changes: dict[str, Diff]) -> None:
    for sw, d in changes.items():
        for u in d.updates():
            k = u.entity.key()
            assert (k in held[sw]) is (u.type is not UpdateType.INSERT), (sw, u)
            if u.type is UpdateType.DELETE:
                del held[sw][k]
            else:
                held[sw][k] = u.entity


def _check(planner: Planner, wants: HostWants, held: dict[str, dict[object, Entity]],
           hosts: dict[int, Placed], reader: HeldReader | None = None) -> None:
    topo = planner.topo
    for sw in topo.switches:
        entries = wants.on_switch(sw)
        assert held[sw] == {e.key(): e for e in entries}, sw
        assert len(entries) == len(held[sw]), sw   # each key once (a flight's group too)
        if reader is not None:   # given compactly: the same entries, and their forms
            compact = CompactWanted(reader)
            assert wants.on_switch(sw, compact) == []
            assert list(compact) == entries, sw
            assert compact.pairs == [reader.compact(e) for e in entries], sw
    fabric = FakeFabric(topo, {sw: [*h.values(), *planner.base(sw)] for sw, h in held.items()})
    for dst in hosts.values():
        places = {dst.at} | ({dst.flight.to} if dst.flight else set())
        members = {p.switch for h in hosts.values() if h.vnet == dst.vnet for p in h.ports()}
        reach = crossing(topo, planner.gateway, planner.next_hops, members, dst.at.switch)
        holders = {sw for sw, h in held.items()
                   if ("bridging", (("eth_dst", dst.mac), ("vnet_id", dst.vnet)), 0) in h}
        assert holders <= reach
        if dst.flight is not None and planner.topo.switches[dst.at.switch].site != \
                planner.topo.switches[dst.flight.to.switch].site:
            places = {dst.at}   # no replica into a GRE tunnel: the old place only
        for src in hosts.values():
            # (behind the sender's own port its hypervisor's bridge delivers, not the fabric)
            want = places - {src.at}
            if src.vnet != dst.vnet or src is dst or not want:
                continue
            got = fabric.deliver(src.at, Frame(dst.mac))
            assert sorted(got) == sorted(want), (src.at, dst)
            if dst.ip is not None:
                assert fabric.deliver(src.at, Frame(0x020000000001, dst.ip)) == got
        vm = placed(dst.vnet, dst.mac, dst.ip, dst.at)
        for sw in holders:   # each entry is the one the everything-everywhere planner makes
            ref = {e.key(): e for e in planner.vm_entries(sw, vm, dst.flight)}
            for k, e in held[sw].items():
                if isinstance(e, TableEntry) and e.table == "bridging" and k in ref:
                    assert ref[k] == e


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(sorted(TOPOLOGIES)), st.data())
def test_diffs_keep_the_switches_at_the_derived_state(schema: P4Schema, which: str,
                                                      data: st.DataObject) -> None:
    topo = TOPOLOGIES[which]
    planner = Planner(topo.__class__(topo.sites, topo.switches, topo.links, topo.hypervisors,
                                     {"blue": _vnet(10), "red": _vnet(20)}, {}))
    wants = HostWants(planner, lambda: None)
    held: dict[str, dict[object, Entity]] = {sw: {} for sw in topo.switches}
    ports = _ports(topo)
    hosts: dict[int, Placed] = {}
    for _ in range(data.draw(st.integers(1, 14))):
        i = data.draw(st.integers(0, HOSTS - 1))
        mac = 0x020000000100 + i
        vnet = 10 if i < 4 else 20
        # a hypervisor's port is an access port of one virtual network
        at = data.draw(st.sampled_from(ports[vnet == 20::2]))
        what = data.draw(st.sampled_from(["place", "fly", "gone", "readdress"]))
        old = hosts.get(mac)
        new: Placed | None
        if what == "gone":
            new = None
        elif what == "fly" and old is not None and at != old.at:
            new = Placed((vnet, mac), old.ip, old.at, InFlight(at, group=i + 1))
        elif what == "readdress" and old is not None:
            new = Placed((vnet, mac), (old.ip or 0) ^ 0x0200, old.at, old.flight)
        else:
            new = Placed((vnet, mac), 0x0A000100 + i, at)
        _apply(held, wants.set((vnet, mac), new))
        if new is None:
            hosts.pop(mac, None)
        else:
            hosts[mac] = new
        _check(planner, wants, held, hosts, HeldReader(schema))


def _vnet(vid: int) -> VNet:
    return VNet(f"v{vid}", vid, "02:00:00:00:00:01")


def test_links_down_and_tunnels_move_only_what_follows_them() -> None:
    topo = parse_topology(TOPO)
    planner = Planner(topo)
    up: set[tuple[str, str]] = set()
    wants = HostWants(planner, lambda: frozenset(up))
    held: dict[str, dict[object, Entity]] = {sw: {} for sw in topo.switches}
    a = Placed((10, 0x020000000101), 0x0A000101, PortRef("s2", 3))
    b = Placed((10, 0x020000000102), 0x0A000102, PortRef("s3", 3))   # site b
    _apply(held, wants.set_many([(a.key, a), (b.key, b)]))
    entry = held["s1"][("bridging", (("eth_dst", b.mac), ("vnet_id", 10)), 0)]
    assert isinstance(entry, TableEntry) and entry.action == "bridging.to_cpu"  # tunnel down
    before = frozenset(up)
    up.update({("s1", "s3"), ("s3", "s1")})
    changes = wants.tunnels_changed(before, frozenset(up))
    assert sorted(changes) == ["s1", "s3"]                           # the gateways only
    _apply(held, changes)
    link = next(x for x in topo.links if {x.a.switch, x.b.switch} == {"s1", "s2"})
    old = planner.set_links_down({link})
    assert old is not None
    changes = wants.paths_changed(old)
    _apply(held, changes)
    for sw in topo.switches:
        assert held[sw] == {e.key(): e for e in wants.on_switch(sw)}, sw
    fabric = FakeFabric(topo, {sw: [*h.values(), *planner.base(sw, frozenset(up))]
                               for sw, h in held.items()})
    assert fabric.send(a.at, Frame(b.mac)) == b.at and fabric.send(b.at, Frame(a.mac)) == a.at


def test_two_hosts_claiming_one_address_route_to_the_first() -> None:
    planner = Planner(parse_topology(TOPO))
    wants = HostWants(planner, lambda: None)
    held: dict[str, dict[object, Entity]] = {sw: {} for sw in planner.topo.switches}
    a = Placed((10, 0x020000000101), 0x0A000101, PortRef("s1", 3))
    b = Placed((10, 0x020000000102), 0x0A000101, PortRef("s2", 3))   # a's address too
    _apply(held, wants.set_many([(a.key, a), (b.key, b)]))
    key = ("routing_v4", (("ipv4_dst", 0x0A000101), ("vnet_id", 10)), 0)

    def routes() -> dict[str, int]:
        return {sw: to_int(e.params["dst_mac"]) for sw, h in held.items()
                if isinstance(e := h.get(key), TableEntry)}

    assert routes() == {"s1": a.mac, "s2": a.mac}
    _apply(held, wants.set(a.key, None))                             # a goes: b's now
    assert routes() == {"s2": b.mac}
