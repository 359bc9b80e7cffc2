"""A controller restarted against switches that hold a fabric's state: hosts placed where
the entries say, hosts in the middle of a migration asked, nothing rewritten."""

from __future__ import annotations

from ctrl.control.adoption import PROBE_SOURCE_MAC
from ctrl.control.core import ControlCore
from ctrl.control.diff import diff
from ctrl.control.plans import Plan
from ctrl.control.readback import merged
from ctrl.control.topology import PortRef, parse_topology
from ctrl.p4rt.entity import PacketIn
from ctrl.punt.classify import Classified
from ctrl.punt.frames import ARP_REPLY, ETHERTYPE_ARP, build_arp, parse_arp
from tests.control.frames import punted, rarp
from tests.topologies import CHAIN, TOPO, VM2


def restarted(text: str, before: ControlCore) -> tuple[ControlCore, list[Plan]]:
    """A new core from the same topology file, told what `before`'s switches hold."""
    after = ControlCore(parse_topology(text), now=100.0)
    found = merged({sw: after.read_back(sw, before.wanted(sw)) for sw in after.topo.switches})
    return after, after.adopt(found, 100.0)


def test_a_restart_keeps_every_host_where_the_switches_have_it() -> None:
    before = ControlCore(parse_topology(CHAIN))
    vm = before.find("vm")
    before.packet_ins("c4", rarp(3, mac=vm.mac), 1, 1.0)          # vm: h1 -> h4
    before.packet_ins("c1", rarp(4, mac=0x0200000099AA), 1, 2.0)  # learned, not declared
    after, plans = restarted(CHAIN, before)
    assert after.find("vm").location == PortRef("c4", 3)          # not h1 as declared
    assert after.tracker.get(10, 0x0200000099AA).location == PortRef("c1", 4)
    # Each host with an address is asked where it was placed (vm at c4:3; the learned
    # one has none); nobody is in doubt.
    probes = [(s.switch, s.port, parse_arp(s.frame)) for p in plans for s in p.sends]
    asked = {(sw, port, a.tpa) for sw, port, a in probes if a is not None}
    assert ("c4", 3, vm.ip) in asked and len(asked) == len(probes)
    assert all(after.find(n).location == PortRef(sw, port)
               for n, h in after.topo.vms.items() for sw, port, ip in asked
               if ip == after.find(n).ip)
    for sw in after.topo.switches:                                  # nothing to rewrite
        assert len(diff(after.wanted(sw), before.wanted(sw))) == 0, sw
    # one key tuple a host, held by the wanted state too, not the read-back's copies
    for host in after.tracker.unsorted():
        placed = after.hostwants.placed(host.key)
        assert placed is not None and placed.key is host.key and placed.at is host.location
        assert host.key in after.confirmed


def test_a_migration_under_way_when_it_stopped_is_asked_about() -> None:
    text = TOPO + VM2
    before = ControlCore(parse_topology(text))
    before.announce("vm2", "h4", 1.0)                 # both ways: s2:3 and s4:3
    after, plans = restarted(text, before)
    probes = [(s.switch, s.port, parse_arp(s.frame)) for p in plans for s in p.sends]
    vm2 = [(sw, port) for sw, port, a in probes if a is not None and a.tpa == 0x0A000201]
    assert sorted(vm2) == [("s2", 3), ("s4", 3)]     # in doubt: asked at both, once each
    assert all(a is not None and a.spa == 0 for *_, a in probes)
    # It answers from h4: there it is, one location again.
    after.packet_ins("s4", rarp(3, mac=0x020000000102), 1, 101.0)
    assert after.find("vm2").location == PortRef("s4", 3)


def test_hosts_seen_since_the_start_are_not_moved_by_old_entries() -> None:
    before = ControlCore(parse_topology(CHAIN))
    vm = before.find("vm")
    before.packet_ins("c4", rarp(3, mac=vm.mac), 1, 1.0)
    after = ControlCore(parse_topology(CHAIN), now=100.0)
    after.packet_ins("c2", rarp(3, mac=vm.mac), 1, 100.5)           # seen at h2 already
    found = merged({sw: after.read_back(sw, before.wanted(sw)) for sw in after.topo.switches})
    after.adopt(found, 101.0)
    assert after.find("vm").location == PortRef("c2", 3)


def arp_answer(port: int, mac: int, ip: int, vnet: int = 10) -> Classified:
    """A host's answer to the controller's ARP probe, punted where it is."""
    frame = build_arp(ETHERTYPE_ARP, eth_src=mac, eth_dst=PROBE_SOURCE_MAC, oper=ARP_REPLY,
                      sha=mac, spa=ip, tha=PROBE_SOURCE_MAC, tpa=0)
    return punted(PacketIn(frame, {"ingress_port": port, "reason": 1, "vnet_id": vnet}))


def test_a_host_that_moved_while_no_controller_listened_is_found() -> None:
    before = ControlCore(parse_topology(CHAIN))
    vm = before.find("vm")
    assert vm.ip is not None
    after, plans = restarted(CHAIN, before)          # the entries say h1 (c1:3)
    assert after.find("vm").location == PortRef("c1", 3)
    first = [(s.switch, s.port) for p in plans for s in p.sends
             if (a := parse_arp(s.frame)) is not None and a.tpa == vm.ip]
    assert first == [("c1", 3)]                       # asked where it was placed
    deadline = after.next_deadline()
    assert deadline is not None and deadline > 100.0
    assert after.tick(deadline - 0.01) == []          # not yet
    search = [(s.switch, s.port) for p in after.tick(deadline) for s in p.sends
              if (a := parse_arp(s.frame)) is not None and a.tpa == vm.ip]
    assert sorted(search) == sorted((e.switch, e.port) for e in after.edges)
    # It had moved to h4 while the controller was away: it answers from there.
    plans = after.packet_ins("c4", arp_answer(3, vm.mac, vm.ip), 1, deadline + 0.01)
    assert plans and after.tracker.get(vm.vnet, vm.mac).location == PortRef("c4", 3)
    assert after.find("vm").location == PortRef("c4", 3)
    assert after.tick(deadline + 10) == [] and after.verify.pending == {}


def test_a_host_that_answers_where_it_was_placed_is_not_searched_for() -> None:
    before = ControlCore(parse_topology(CHAIN))
    vm = before.find("vm")
    assert vm.ip is not None
    after, _ = restarted(CHAIN, before)
    after.packet_ins("c1", arp_answer(3, vm.mac, vm.ip), 1, 100.01)
    assert (vm.vnet, vm.mac) not in after.verify.pending
    searched = [a.tpa for p in after.tick(200.0) for s in p.sends
                if (a := parse_arp(s.frame)) is not None]
    assert vm.ip not in searched                      # the others did not answer: asked
    assert searched and after.verify.pending == {}
