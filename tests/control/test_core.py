"""The control core without switches or asyncio: events in, plans out, on a fake clock.

Plans are checked by where frames go (tests/control/fakefabric.py), step by step:
while a move's writes are being made, every frame to the moving VM still arrives
(at the old or the new place), and no frame loops, whatever order the switches
of one step take their writes in.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scapy.layers.l2 import ARP, Ether

from ctrl.control.core import ControlCore, Options
from ctrl.control.hosts import Damping, HostError
from ctrl.control.migrations import Phase
from ctrl.control.plans import Plan, coalesce
from ctrl.control.topology import PortRef, parse_topology
from ctrl.p4rt.entity import Entity, MulticastGroupEntry, PacketIn, TableEntry, UpdateType
from tests.control.fakefabric import FakeFabric, Frame
from tests.control.frames import punted, rarp
from tests.topologies import CHAIN, TOPO, VM2, VMS

MAC = 0x020000000101






class Switches:
    """What each switch holds, written plan by plan as the runner would, with a look at
    the fabric after every switch, and in the end every host reaching every other of its
    network (across sites, where their tunnel is up). Strictly: an insert of what is
    there, or a change or delete of what is not, fails (a switch refuses it), as the
    runner writes the plans' Diffs as they are (no mirror of the switches to settle them
    against)."""

    def __init__(self, core: ControlCore) -> None:
        self.core = core
        self.held: dict[str, dict[object, Entity]] = {
            sw: {e.key(): e for e in core.wanted(sw)} for sw in core.topo.switches}

    def fabric(self) -> FakeFabric:
        return FakeFabric(self.core.topo, {sw: list(h.values()) for sw, h in self.held.items()})

    def apply(self, plans: list[Plan], check: object = None, rng: random.Random | None = None
              ) -> None:
        for step in coalesce(plans):
            order = sorted(step)
            if rng is not None:
                rng.shuffle(order)   # the switches of a step take their writes in any order
            for sw in order:
                for u in step[sw].updates():
                    k = u.entity.key()
                    assert (k in self.held[sw]) is (u.type is not UpdateType.INSERT), (sw, u)
                    if u.type is UpdateType.DELETE:
                        del self.held[sw][k]
                    else:
                        self.held[sw][k] = u.entity
                if callable(check):
                    check(self.fabric())
        for sw in self.core.topo.switches:   # and in the end, exactly the wanted state
            assert self.held[sw] == {e.key(): e for e in self.core.wanted(sw)}, sw
        fabric = self.fabric()   # where every host reaches every other of its network
        hosts = self.core.tracker.hosts()
        up = self.core.tunnels_up
        for src in hosts:
            for dst in hosts:
                pair = self.core.planner.tunnel_between(src.location.switch, dst.location.switch)
                if src.vnet == dst.vnet and src.location != dst.location and \
                        self.core.migrations.get(dst.key) is None and \
                        (pair is None or up is None or pair in up):   # (else: to the CPU)
                    assert fabric.deliver(src.location, Frame(dst.mac)) == [dst.location]


def test_flapping_host_is_held_then_accepted_on_time() -> None:
    core = ControlCore(parse_topology(TOPO), Options(
        damping=Damping(max_moves=1, window=10.0, hold=0.2, duplicate_window=0.0)))
    core.packet_ins("s1", rarp(3), 1, 1.0)   # learned at s1:3
    core.packet_ins("s2", rarp(3), 1, 2.0)   # moved to s2:3
    assert core.packet_ins("s4", rarp(3), 1, 3.0) == []   # too soon: held, nothing written
    assert (core.metrics.learned, core.metrics.moves, core.metrics.damped) == (1, 1, 1)
    assert core.tracker.get(10, MAC).location == PortRef("s2", 3)
    assert core.next_deadline() == pytest.approx(3.2)
    assert core.tick(3.1) == []
    [plan] = core.tick(3.2)                               # never banned
    assert core.tracker.get(10, MAC).location == PortRef("s4", 3)
    assert [(m.old, m.new) for m in plan.moves] == [(PortRef("s2", 3), PortRef("s4", 3))]
    assert core.metrics.moves == 2 and core.next_deadline() is None


def test_frames_from_fabric_ports_or_unknown_vnet_teach_nothing() -> None:
    core = ControlCore(parse_topology(TOPO))
    assert core.packet_ins("s1", rarp(1), 1, 0.0) == []         # s1:1 is a fabric link
    assert core.packet_ins("s1", rarp(3, vnet=0), 1, 0.0) == []  # no vnet, unknown MAC
    assert len(core.tracker) == 0 and core.metrics.learned == 0
    assert core.metrics.packet_ins == 2


def test_a_move_writes_the_new_place_first_and_the_old_one_last() -> None:
    core = ControlCore(parse_topology(TOPO + VMS))   # vm1 at s1 sends to vm2
    [plan] = core.packet_ins("s4", rarp(3, mac=0x020000000102), 1, 5.0)   # vm2: s2 -> s4
    assert [sorted(step) for step in plan.steps] == [["s4"], ["s1"], ["s2"]]
    assert plan.start == 5.0 and len(plan.moves) == 1


def test_a_host_alone_in_its_network_has_entries_only_where_it_is() -> None:
    """No other host of its virtual network sends to it: no other switch holds it, and
    its move writes the two places only, stale entries last."""
    core = ControlCore(parse_topology(TOPO + VM2))
    mac = 0x020000000102
    holders = {sw for sw in core.topo.switches for e in core.wanted(sw)
               if isinstance(e, TableEntry) and e.table == "bridging"}
    assert holders == {"s2"}
    [plan] = core.packet_ins("s4", rarp(3, mac=mac), 1, 5.0)          # vm2: s2 -> s4
    assert [sorted(step) for step in plan.steps] == [["s4"], ["s2"]]
    # bridging, the access port, and routing and my_station (nobody left to route for)
    assert [len(d.deletes) for d in plan.steps[-1].values()] == [4]


def test_a_host_arriving_where_its_network_had_nobody_brings_the_others_there() -> None:
    """vm2 moves to s4, where no host of its network was: s4 gets vm1's entries (it now
    sends to it), before anything else of the move; s2, left empty, loses vm1's last."""
    core = ControlCore(parse_topology(TOPO + VMS))
    sw = Switches(core)
    vm1 = core.find("vm1")
    before = {e.key() for e in core.wanted("s4")}
    plans = core.packet_ins("s4", rarp(3, mac=0x020000000102), 1, 5.0)
    gained = {e.key() for e in core.wanted("s4")} - before
    assert ("bridging", (("eth_dst", vm1.mac), ("vnet_id", 10)), 0) in gained
    assert all(u.type is UpdateType.INSERT for u in plans[0].steps[0]["s4"].updates())
    assert not any(isinstance(e, TableEntry) and e.table == "routing_v4"
                   for e in core.wanted("s2"))
    sw.apply(plans)
    assert sw.fabric().send(PortRef("s4", 3), Frame(vm1.mac)) == PortRef("s1", 3)


def test_an_announced_move_to_another_site_has_its_tunnels_up_first() -> None:
    core = ControlCore(parse_topology(TOPO + VM2))
    assert core.tunnels_up == frozenset()
    m, plans = core.announce("vm2", "h3", 1.0)               # s2 (site a) -> s3 (site b)
    assert m.phase is Phase.ANNOUNCED and m.dst == PortRef("s3", 3)
    assert core.tunnels_up == frozenset({("s1", "s3"), ("s3", "s1")})
    assert any(isinstance(e, TableEntry) and e.table == "tunnel_encap"
               for e in core.wanted("s1"))
    assert plans and plans[0].writes() > 0
    again = core.metrics.tunnels_brought_up
    assert core.announce("vm2", "h3", 2.0)[1] == []          # twice: as once
    assert core.metrics.tunnels_brought_up == again
    assert [x.dst for x in core.migrations] == [PortRef("s3", 3)]
    m2, _ = core.announce("vm2", "h4", 3.0)                  # elsewhere, within its site
    assert core.metrics.tunnels_brought_up == again
    assert [x.dst for x in core.migrations] == [PortRef("s4", 3)] and m2.group == 1
    assert core.migrations.finished[-1].phase is Phase.CANCELLED
    assert core.migrations.provisioned() == {PortRef("s4", 3): 10}   # s3:3 no longer


def test_a_move_to_another_site_brings_its_tunnels_with_it() -> None:
    core = ControlCore(parse_topology(TOPO + VMS.split("  vm2")[0]))  # vm1 at s1, site a
    core.packet_ins("s2", rarp(3, mac=0x0200000001FF), 1, 0.0)   # learned at s2:3, site a
    assert core.tunnels_up == frozenset()
    core.packet_ins("s3", rarp(3, mac=0x0200000001FF), 1, 1.0)   # to s3:3, site b
    assert core.metrics.moves == 1
    assert core.tunnels_up == frozenset({("s1", "s3"), ("s3", "s1")})
    assert any(isinstance(e, TableEntry) and e.table == "bridging"
               and e.action == "bridging.to_tunnel" for e in core.wanted("s1"))


def test_the_migration_lifecycle() -> None:
    core = ControlCore(parse_topology(TOPO + VM2), Options(flight_timeout=10.0))
    vm2 = core.find("vm2")
    core.announce("vm2", "h3", 1.0)
    host, _ = core.switch_over("vm2", 2.0)          # stopped at h2 for the last copy
    assert host.location == PortRef("s3", 3) and core.metrics.moves == 1
    assert core.migrations.get(vm2.key).phase is Phase.SWITCHED  # type: ignore[union-attr]
    with pytest.raises(HostError, match="switched over already"):
        core.switch_over("vm2", 2.5)
    core.packet_ins("s3", rarp(3, mac=vm2.mac), 1, 3.0)   # its RARP finds it there: done
    assert core.metrics.moves == 1 and core.migrations.get(vm2.key) is None
    assert core.migrations.finished[-1].phase is Phase.DONE
    with pytest.raises(HostError, match="no migration under way"):
        core.cancel("vm2", 4.0)
    with pytest.raises(HostError, match="no migration under way"):
        core.switch_over("vm2", 4.0)

    core.announce("vm2", "h4", 5.0)                 # switched over, then it failed: back
    core.switch_over("vm2", 6.0)
    host, _ = core.cancel("vm2", 7.0)
    assert host.location == PortRef("s3", 3) and core.metrics.moves == 3
    assert core.metrics.migrations == {"done": 1, "cancelled": 1}

    core.announce("vm2", "h2", 8.0)                 # no RARP ever: undone when it expires
    assert core.next_deadline() == 18.0
    assert core.tick(17.0) == []
    [plan] = core.tick(18.0)
    assert core.migrations.finished[-1].phase.value == "expired"
    assert core.migrations.provisioned() == {} and plan.writes() > 0
    assert core.metrics.migrations["expired"] == 1


def test_bad_requests_change_nothing() -> None:
    core = ControlCore(parse_topology(TOPO + VM2))
    before = {sw: core.wanted(sw) for sw in core.topo.switches}
    with pytest.raises(HostError, match="no VM 'vm9'"):
        core.announce("vm9", "h3", 1.0)
    with pytest.raises(HostError, match="no hypervisor 'h9'"):
        core.announce("vm2", "h9", 1.0)
    with pytest.raises(HostError, match="already at h2"):
        core.announce("vm2", "h2", 1.0)
    with pytest.raises(HostError, match="no migration under way"):
        core.switch_over("vm2", 1.0)
    assert {sw: core.wanted(sw) for sw in core.topo.switches} == before
    assert len(core.migrations) == 0


def _hosts_reach(core: ControlCore, places: dict[int, set[PortRef]]) -> object:
    """A check of the fabric: a frame to each host (MAC -> its places) from every edge
    port with a host behind it arrives at one of its places, once, and never loops. (A
    host that moved in this batch has left the port it moved from, and sends from where
    it arrived once the batch's writes are done: where its network had nobody before,
    they bring its peers' entries; Switches.apply checks that end.)"""
    moved = {h.location for mac in places for h in core.tracker.with_mac(mac)}
    senders = {h.location for h in core.tracker.hosts()} - moved

    def check(fabric: FakeFabric) -> None:
        for mac, where in places.items():
            for at in sorted(senders):
                if fabric.lookup(at.switch, "ingress_port", ingress_port=at.port) is None:
                    continue   # not an access port yet
                got = fabric.deliver(at, Frame(mac))   # raises on a forwarding loop
                assert got and set(got) <= where, (at, f"{mac:012x}", got)

    return check


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["vm", "cl2"]),
                          st.sampled_from(["h1", "h1b", "h2", "h3", "h4", "h5"])),
                min_size=1, max_size=9),
       st.integers(1, 3), st.randoms(use_true_random=False))
# vm moves within c1 and then away, and cl2 to where vm was, all in one round: c2, left
# with no host, must keep vm's entry until c3 no longer sends vm's frames through it.
@example([("vm", "h1b"), ("vm", "h5"), ("cl2", "h1")], 3, random.Random(0))
def test_moves_never_loop_and_end_in_the_wanted_state(
        moves: list[tuple[str, str]], batch: int, rng: random.Random) -> None:
    """Two hosts hop around a ring of switches, their moves' plans coalesced `batch` at
    a time as a busy runner would: at every switch written, in any order within a
    step, no frame loops, and a frame for either from anywhere arrives at one of its
    places (old or new)."""
    topo = parse_topology(CHAIN)
    core = ControlCore(topo)
    sw = Switches(core)
    pending: list[Plan] = []
    places: dict[int, set[PortRef]] = {}
    for i, (name, hyp) in enumerate(moves):
        host, at = core.find(name), topo.hypervisors[hyp].attach
        places.setdefault(host.mac, {host.location}).add(at)
        pending += core.packet_ins(at.switch, rarp(at.port, mac=host.mac), 1, 20.0 * i)
        if len(pending) >= batch or i == len(moves) - 1:
            sw.apply(pending, _hosts_reach(core, places), rng)
            pending, places = [], {}
    sw.apply(pending)


def test_moves_of_two_hosts_share_a_round_and_one_host_moving_twice_does_not() -> None:
    topo = parse_topology(CHAIN)
    core = ControlCore(topo)
    vm, cl2 = core.find("vm"), core.find("cl2")
    a = core.packet_ins("c3", rarp(3, mac=vm.mac), 1, 1.0)
    b = core.packet_ins("c5", rarp(3, mac=cl2.mac), 1, 2.0)
    assert len(coalesce(a + b)) == max(len(a[0].steps), len(b[0].steps))   # side by side
    c = core.packet_ins("c4", rarp(3, mac=vm.mac), 1, 3.0)
    assert len(coalesce(a + c)) == len(a[0].steps) + len(c[0].steps)       # one after
    sw = Switches(core)
    sw.held = {s: {e.key(): e for e in ControlCore(topo).wanted(s)} for s in topo.switches}
    sw.apply(a + b + c)
    assert sw.fabric().send(PortRef("c1", 4), Frame(vm.mac)) == PortRef("c4", 3)
    assert sw.fabric().send(PortRef("c1", 4), Frame(cl2.mac)) == PortRef("c5", 3)


def test_proxy_arp_answers_after_the_tunnel_it_needs_is_up() -> None:
    from scapy.layers.l2 import ARP, Ether

    core = ControlCore(parse_topology(TOPO + VM2.replace("h2", "h3")))  # vm2 in site b
    sw = Switches(core)
    frame = bytes(Ether(src="02:00:00:00:01:01", dst="ff:ff:ff:ff:ff:ff")
                  / ARP(op=1, hwsrc="02:00:00:00:01:01", psrc="10.0.1.1", pdst="10.0.2.1"))
    plans = core.packet_ins(
        "s1", punted(PacketIn(frame, {"ingress_port": 3, "reason": 1, "vnet_id": 10})), 1, 1.0)
    [learned, answer] = plans
    assert learned.why == "learned"
    assert core.tunnels_up == frozenset({("s1", "s3"), ("s3", "s1")})
    assert [(s.switch, s.port) for s in answer.sends] == [("s1", 3)]
    assert answer.writes() > 0      # the tunnel's entries, written before the answer
    assert core.metrics.proxy_arp_replies == 1
    sw.apply(plans)
    vm2 = core.find("vm2")
    assert sw.fabric().send(PortRef("s1", 3), Frame(vm2.mac)) == PortRef("s3", 3)


# TOPO and a third site (s5), vm2 at h2 (s2), a client behind a second port of every
# other switch.
AROUND = TOPO.replace("sites: {a: {}, b: {}}", "sites: {a: {}, b: {}, c: {}}").replace(
    "links:\n", """\
  s5: {site: c, device_id: 5, grpc_addr: "127.0.0.1:5", underlay: {ip: 203.0.113.1, port: 9}}
links:
""").replace("  h4: {switch: s4, port: 3}\n", """\
  h4: {switch: s4, port: 3}
  k1: {switch: s1, port: 5}
  k3: {switch: s3, port: 5}
  k4: {switch: s4, port: 5}
  k5: {switch: s5, port: 5}
""") + VM2 + """\
clients:
  c1: {vnet: blue, mac: "02:00:00:00:02:01", ip: 10.0.5.1, hypervisor: k1}
  c3: {vnet: blue, mac: "02:00:00:00:02:03", ip: 10.0.5.3, hypervisor: k3}
  c4: {vnet: blue, mac: "02:00:00:00:02:04", ip: 10.0.5.4, hypervisor: k4}
  c5: {vnet: blue, mac: "02:00:00:00:02:05", ip: 10.0.5.5, hypervisor: k5}
"""


@pytest.mark.parametrize("dst", ["h3", "h4"], ids=["across-sites", "within-a-site"])
@pytest.mark.parametrize("end", ["switch-over", "cancel"])
@settings(max_examples=10, deadline=None)
@given(rng=st.randoms(use_true_random=False))
def test_an_announced_move_delivers_at_its_new_place_throughout(dst: str, end: str,
                                                                rng: random.Random) -> None:
    """vm2 announced to h3 (another site) or h4, clients in three sites: while the
    announcement is written, frames for it keep arriving; once it is written, a frame for
    it from any client reaches both places; while the switch-over is written (the VM
    paused at its old place), switch by switch in any order within a step, every frame
    still reaches the new place, so the network loses nothing; the RARP ends it. Or it is
    cancelled: every frame reaches the old place throughout. None arrives twice."""
    topo = parse_topology(AROUND)
    core = ControlCore(topo)
    sw = Switches(core)
    vm2 = core.find("vm2")
    old, new = vm2.location, topo.hypervisors[dst].attach
    clients = [topo.hypervisors[k].attach for k in ("k1", "k3", "k4", "k5")]

    def reaches(where: set[PortRef], must: PortRef | None = None) -> object:
        def check(fabric: FakeFabric) -> None:
            for at in clients:
                got = fabric.deliver(at, Frame(vm2.mac))   # raises on a forwarding loop
                assert got and set(got) <= where and len(got) == len(set(got)), (at, got)
                assert must is None or must in got, (at, got)
        return check

    # c3 and c5 ask for vm2 (proxy ARP): their tunnels to its site are up before anything.
    for switch, n in (("s3", 3), ("s5", 5)):
        sw.apply(core.packet_ins(switch, punted(PacketIn(bytes(
            Ether(src=f"02:00:00:00:02:0{n}", dst="ff:ff:ff:ff:ff:ff")
            / ARP(op=1, hwsrc=f"02:00:00:00:02:0{n}", psrc=f"10.0.5.{n}", pdst="10.0.2.1")),
            {"ingress_port": 5, "reason": 1, "vnet_id": 10})), 1, 0.5))
    assert {("s1", "s3"), ("s1", "s5")} <= set(core.tunnels_up or ())
    sw.apply(core.announce("vm2", dst, 1.0)[1], reaches({old, new}), rng)
    for at in clients:
        assert sw.fabric().deliver(at, Frame(vm2.mac)) == sorted(
            [old, new], key=lambda x: (x.switch, x.port)), at
    if end == "cancel":
        sw.apply(core.cancel("vm2", 2.0)[1], reaches({old, new}, must=old), rng)
        assert core.migrations.finished[-1].phase is Phase.CANCELLED
        assert all(sw.fabric().deliver(at, Frame(vm2.mac)) == [old] for at in clients)
        return
    sw.apply(core.switch_over("vm2", 2.0)[1], reaches({old, new}, must=new), rng)
    sw.apply(core.packet_ins(new.switch, rarp(new.port, mac=vm2.mac), 1, 3.0),
             reaches({new}, must=new), rng)
    assert core.migrations.finished[-1].phase is Phase.DONE
    assert not any(isinstance(e, MulticastGroupEntry) for s in topo.switches
                   for e in core.wanted(s))


def test_what_changed_is_noticed_in_order() -> None:
    core = ControlCore(parse_topology(TOPO + VM2))
    core.take_notices()
    core.announce("vm2", "h3", 1.0)
    core.switch_over("vm2", 2.0)
    core.packet_ins("s3", rarp(3, mac=0x020000000102), 1, 3.0)
    kinds = [(n.kind, n.as_json().get("phase") or n.as_json().get("cause"))
             for n in core.take_notices()]
    assert kinds == [("migration", "announced"), ("tunnels", None),
                     ("migration", "switched-over"), ("host-moved", "switch-over"),
                     ("migration", "done")]
    assert core.take_notices() == []


def test_a_switch_away_is_no_link_down_and_a_silent_link_is() -> None:
    from ctrl.punt.lldp import build_lldp

    core = ControlCore(parse_topology(TOPO + VMS), Options(lldp_interval=0.5))
    for sw in core.topo.switches:
        core.switch_state(sw, True, 0.0)

    def heard(now: float) -> None:   # s1's probe out of s1:1, back at s2:1, and back
        for here, there in (("s2", "s1"), ("s1", "s2")):
            frame = build_lldp(there, 1, b"\x02\x00\x00\x00\x00\xfe")
            core.packet_ins(here, punted(PacketIn(frame, {"ingress_port": 1, "reason": 3,
                                                          "vnet_id": 0})), 1, now)

    heard(0.0)
    core.switch_state("s2", False, 0.5)          # s2's agent restarts: no LLDP from it
    assert core.tick(5.0) == [] and not core.planner.links_down
    core.switch_state("s2", True, 6.0)           # back: a fresh interval to be heard in
    assert core.tick(7.0) == [] and not core.planner.links_down
    [plan] = core.tick(7.6)                      # connected both ends and silent: down
    assert {str(x.a) for x in core.planner.links_down} == {"s1:1"} and plan.writes() > 0
    heard(8.0)
    assert core.planner.links_down                 # back at the next tick, not per frame
    [back] = core.tick(8.1)
    assert not core.planner.links_down and back.writes() > 0
