"""A controller restarted against switches that hold a fabric's state: hosts placed where
the entries say, hosts in the middle of a migration asked, nothing rewritten."""

from __future__ import annotations

from ctrl.control.core import ControlCore
from ctrl.control.diff import diff
from ctrl.control.plans import Plan
from ctrl.control.readback import merged
from ctrl.control.topology import PortRef, parse_topology
from ctrl.punt.frames import parse_arp
from tests.control.frames import rarp
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
    assert all(not p.sends for p in plans)                          # nobody in doubt
    for sw in after.topo.switches:                                  # nothing to rewrite
        assert len(diff(after.wanted(sw), before.wanted(sw))) == 0, sw


def test_a_migration_under_way_when_it_stopped_is_asked_about() -> None:
    text = TOPO + VM2
    before = ControlCore(parse_topology(text))
    before.announce("vm2", "h4", 1.0)                 # both ways: s2:3 and s4:3
    after, plans = restarted(text, before)
    probes = [(s.switch, s.port, parse_arp(s.frame)) for p in plans for s in p.sends]
    assert {(sw, port) for sw, port, _ in probes} == {("s2", 3), ("s4", 3)}
    assert all(a is not None and a.tpa == 0x0A000201 and a.spa == 0 for *_, a in probes)
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
