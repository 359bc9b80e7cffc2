"""The control core: events in, plans out. Pure: no asyncio, no I/O, the time comes with
each event.

Events: a batch of punted frames from a switch (classified by ctrl.punt), an
announced migration's steps (announce, switch over, cancel), the tunnels'
packet counters, and the passing of time (`tick`: damped moves whose hold ends,
migrations that time out, links silent too long, tunnels idle too long). Each
returns the `Plan`s that bring the switches to the new wanted state, make-before-
break around a move, with the frames to send once written (proxy ARP replies,
a frame sent through a tunnel just brought up). The runner (ctrl.control.runner)
applies them and owns every task and lock; this module decides everything else,
so that make-before-break, interleaved migrations and damping are unit tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from ctrl.control.adoption import PROBE_SOURCE_MAC, Adoption
from ctrl.control.compactwant import CompactWanted
from ctrl.control.diff import Diff, merge
from ctrl.control.held import HeldReader
from ctrl.control.hosts import (
    Damping,
    Duplicate,
    Event,
    Held,
    Host,
    HostError,
    HostTracker,
    Learned,
    Moved,
    Sighting,
)
from ctrl.control.hostwants import HostWants, Placed
from ctrl.control.linkwatch import LinkWatch
from ctrl.control.migrations import Migration, Migrations, Phase
from ctrl.control.notices import (
    HostLearned,
    HostMoved,
    LinksChanged,
    MigrationChanged,
    Notice,
)
from ctrl.control.planner import InFlight, Planner
from ctrl.control.plans import PacketOuts, Plan, Send, Step, at_once, ordered
from ctrl.control.topology import PortRef, Topology
from ctrl.control.tunnelevents import TunnelEvents
from ctrl.control.tunnels import TunnelUsage
from ctrl.control.verify import Verification
from ctrl.control.wanted import WantedState
from ctrl.fastpath.native import Backend
from ctrl.fastpath.quiet import QuietFilter, host_key
from ctrl.fastpath.stream import PuntBatch
from ctrl.p4rt.entity import Entity
from ctrl.p4rt.values import to_int
from ctrl.punt.classify import Classified, HostSeen, classify_kept
from ctrl.punt.frames import Arp, arp_reply
from ctrl.punt.lldp import build_lldp

log = logging.getLogger(__name__)

LLDP_SOURCE_MAC = b"\x02\x00\x00\x00\x00\xfe"


@dataclass(frozen=True, slots=True)
class Options:
    damping: Damping = field(default_factory=Damping)
    lldp_interval: float = 0.5      # links unheard for three intervals are down
    flight_timeout: float = 120.0   # an announced migration with no sighting is undone
    tunnels_on_demand: bool = True  # GRE tunnels up while used (else always)
    tunnel_idle: float = 300.0      # a tunnel whose counter stands still this long goes


@dataclass
class Metrics:
    moves: int = 0
    learned: int = 0
    proxy_arp_replies: int = 0
    tunnels_brought_up: int = 0
    tunnels_released: int = 0
    link_changes: int = 0
    damped: int = 0
    duplicates: int = 0
    packet_ins: int = 0
    malformed: int = 0
    quiet: int = 0      # packet-ins that could change nothing, told apart in C (punted())
    migrations: dict[str, int] = field(default_factory=dict)  # finished, by phase



class ControlCore(TunnelEvents, Adoption):
    def __init__(self, topology: Topology, options: Options | None = None,
                 now: float = 0.0, timer: Callable[[], float] | None = None) -> None:
        self.topo = topology
        self.timer = timer   # only to say how long planning a move took (Plan.planning)
        self.options = opts = options or Options()
        self.planner = Planner(topology)
        self.migrations = Migrations(opts.flight_timeout)
        self.edges = edges = {h.attach for h in topology.hypervisors.values()}
        self.tracker = HostTracker(edges.__contains__, opts.damping,
                                   expected=self.migrations.expected)
        self.tunnels: TunnelUsage | None = (TunnelUsage(opts.tunnel_idle)
                                           if opts.tunnels_on_demand else None)
        self.metrics = Metrics()
        self.notices: list[Notice] = []   # what changed, for the runner to hand on
        self.confirmed = self.tracker.confirmed   # seen, or adopted, since the start
        self.verify = Verification(PROBE_SOURCE_MAC)   # adopted hosts: still there?
        self.links = LinkWatch(topology, opts.lldp_interval)
        for vm in topology.vms.values():
            self.tracker.declare(topology.vnets[vm.vnet].id, to_int(vm.mac), to_int(vm.ip),
                                 topology.hypervisors[vm.hypervisor].attach, now)
        self.hostwants = HostWants(self.planner, lambda: self.tunnels_up)
        self.hostwants.reset(self._placed(h) for h in self.tracker.unsorted())
        self.state = WantedState()   # what does not follow the hosts: each switch's base
        self.state.replace(self._bases())
        self.version = 0   # counts changes of the wanted state; each Plan carries its own
        # Hosts at rest, whose frames where they are change nothing: told apart in C,
        # and their ARP requests for hosts at rest in their site answered there.
        # Settled after each batch; everyone forgotten by any other event about hosts.
        self.switch_index = {name: i for i, name in enumerate(sorted(topology.switches))}
        self.quiet = self.quiet_filter()

    def quiet_filter(self, backend: Backend = Backend.AUTO) -> QuietFilter:
        """An empty quiet filter for this fabric (each switch index's site), on `backend`."""
        sites = {site: k for k, site in enumerate(self.topo.sites)}
        return QuietFilter(backend, [sites[self.topo.switches[name].site]
                                     for name in self.switch_index])

    def take_notices(self) -> list[Notice]:
        out, self.notices = self.notices, []
        return out

    # -- what the switches should hold -----------------------------------------------

    def wanted(self, switch: str, reader: HeldReader | None = None) -> Sequence[Entity]:
        """What `switch` should hold; with `reader`, given as its compact forms for that
        reader's diff (ctrl/control/compactwant.py: entities made only when asked)."""
        if reader is None:
            return self.state.entities(switch) + self.hostwants.on_switch(switch)
        out = CompactWanted(reader)
        for e in self.state.entities(switch):
            out.entity(e)
        self.hostwants.on_switch(switch, out)
        return out

    def _placed(self, host: Host) -> Placed:
        m = self.migrations.delivering_both(host.key)
        flight = None if m is None else InFlight(m.dst, m.group)
        return Placed(host.key, host.ip, host.location, flight)

    def _stamped(self, plans: list[Plan]) -> list[Plan]:
        """The plans of one event, each marked with the wanted state's version they lead
        to (every change of one event is made before any switch can sync again)."""
        out = [p for p in plans if p]
        for p in out:
            p.version = self.version
        return out

    def _changed(self, changes: dict[str, Diff]) -> dict[str, Diff]:
        self.version += 1
        return changes

    def _replan(self, hosts: Iterable[Host]) -> dict[str, Diff]:
        return self._changed(self.hostwants.set_many((h.key, self._placed(h)) for h in hosts))

    # -- queries -----------------------------------------------------------------------

    def find(self, vm: str) -> Host:
        """A VM by its name in the topology or by its MAC address."""
        if vm in self.topo.vms:
            decl = self.topo.vms[vm]
            return self.tracker.get(self.topo.vnets[decl.vnet].id, to_int(decl.mac))
        try:
            mac = to_int(vm)
        except ValueError:
            raise HostError(f"no VM {vm!r}") from None
        found = sorted(self.tracker.with_mac(mac), key=lambda h: h.key)
        if not found:
            raise HostError(f"no VM {vm!r}")
        return found[0]

    def hypervisor_at(self, at: PortRef) -> str | None:
        return next((n for n, h in self.topo.hypervisors.items() if h.attach == at), None)

    def lldp_probes(self) -> list[Send]:
        """The LLDP frames to send out of every fabric port, once an interval."""
        return [Send(sw, port, build_lldp(sw, port, LLDP_SOURCE_MAC))
                for sw in self.topo.switches for port in self.planner.fabric_ports(sw)]

    def next_deadline(self) -> float | None:
        """When `tick` has something to do next (held moves, migration time-outs)."""
        times = [t for t in (self.tracker.held_until(), self.migrations.next_deadline(),
                             self.verify.next_deadline()) if t is not None]
        return min(times, default=None)

    # -- events -----------------------------------------------------------------------

    def packet_ins(self, switch: str, seen: Classified, count: int, now: float
                   ) -> list[Plan]:
        """Every frame a switch punted in one batch, classified, in order."""
        self.metrics.packet_ins += count
        self.metrics.malformed += seen.malformed
        plans: list[Plan] = []
        for probe in seen.probes:
            self.links.heard(switch, probe, now)
        for host in seen.hosts:
            plans += self._host_seen(switch, host, now)
        for frame in seen.unbridged:
            plans += self._unbridged(switch, frame, now)
        return self._stamped(plans)

    def punted(self, switch: str, batch: PuntBatch, now: float) -> list[Plan]:
        """Every packet-in a switch had waiting, as columns (ctrl.fastpath.stream): the
        frames of settled hosts where they are, malformed frames and those of no use are
        counted in C, and only the rest become objects and go the way of packet_ins."""
        f = self.quiet.filter(batch, self.switch_index[switch])
        seen = classify_kept(batch, f.kept)
        seen.malformed += f.malformed
        seen.ignored += f.ignored
        self.metrics.quiet += f.quiet + f.repeated
        answered: list[Plan] = []
        if f.answered:   # what _proxy_arp would have sent, one buffer for them all
            self.metrics.proxy_arp_replies += f.answered
            answered.append(Plan(start=now, why="proxy ARP",
                                 outs=PacketOuts(switch, f.reply_ports, f.replies)))
        plans = self._stamped(answered) + self.packet_ins(switch, seen, len(batch), now)
        if any(h.vnet == 0 for h in seen.hosts):   # placed by MAC: in any network
            self.quiet.forget_all()
            return plans
        index = self.switch_index[switch]
        for h in seen.hosts:
            key = (h.vnet, h.mac)
            rest = self.at_rest(key)
            if rest is not None and rest[0] == PortRef(switch, h.port):
                self.quiet.settle(host_key(*key), index << 16 | h.port, rest[1])
                owner = self.tracker.find_ip(h.vnet, rest[1]) if rest[1] else None
                if owner is not None and owner.key == key:   # its address answered in C
                    self.quiet.own(h.vnet, rest[1], host_key(*key))
                elif rest[1]:   # another host claimed it first: the core answers for it
                    self.quiet.disown(h.vnet, rest[1])
            else:
                self.quiet.forget(host_key(*key))
        return plans

    def at_rest(self, key: tuple[int, int]) -> tuple[PortRef, int] | None:
        """Where a host is and its address (0: none known) when a frame of it from there
        would change nothing: seen there since the start, no move held, no migration,
        no question about where it is."""
        host = self.tracker.lookup(key)
        if (host is None or host.held is not None or key not in self.confirmed
                or self.verify.asking(key) or self.migrations.get(key) is not None):
            return None
        return host.location, host.ip or 0

    def announce(self, vm: str, hypervisor: str, now: float, cause: str = ""
                 ) -> tuple[Migration, list[Plan]]:
        """An announced migration: the new port ready and the VM's frames delivered at both
        locations until its RARP there. Announcing it again changes nothing. `cause` says
        who asked (operator, hypervisor, placement), for the record."""
        self.quiet.forget_all()
        host = self.find(vm)
        hyp = self.topo.hypervisors.get(hypervisor)
        if hyp is None:
            raise HostError(f"no hypervisor {hypervisor!r} "
                            f"(hypervisors: {', '.join(sorted(self.topo.hypervisors))})")
        if hyp.attach == host.location:
            raise HostError(f"{vm} is already at {hypervisor} ({hyp.attach})")
        current = self.migrations.delivering_both(host.key)
        if current is not None and current.dst == hyp.attach:
            return current, []   # announced already (an operator, then the hypervisor)
        m, replaced = self.migrations.announce(host.key, host.location, hyp.attach, now, cause)
        self._count_finished([replaced] if replaced else [])
        self.notices.append(MigrationChanged(m))
        # Its tunnels first: its frames in flight are copied into those up (a third site's
        # gateway into both sites' tunnels, the one to the new site re-homed just now).
        tunnels = self._tunnels_for(host.location, m.dst, now)
        changes = merge(tunnels, self._replan([host]))
        log.info("migration of %012x to %s announced%s: delivered at %s and %s until its "
                 "RARP", host.mac, m.dst, f" ({cause})" if cause else "", host.location, m.dst)
        # The new place's side first: a gateway that copies the VM's frames into a tunnel
        # finds the far gateway delivering them, not sending them back.
        steps = ordered(changes, self.planner.order.move_rank(m.dst, host.location))
        return m, self._stamped([Plan(steps, start=now, why=f"announce {vm}")])

    def switch_over(self, vm: str, now: float) -> tuple[Host, list[Plan]]:
        """The VM has stopped at its source for the last copy: its frames go to the new
        location only, from now on, inside its own pause."""
        self.quiet.forget_all()
        host = self.find(vm)
        m = self.migrations.switch_over(host.key, now)
        self.notices.append(MigrationChanged(m))
        event = self.tracker.declare(host.vnet, host.mac, host.ip, m.dst, now)
        log.info("migration of %012x: switched over to %s while it is paused", host.mac,
                 m.dst)
        return host, self._stamped(self._events([event], now, cause="switch-over"))

    def cancel(self, vm: str, now: float) -> tuple[Host, list[Plan]]:
        """The migration will not happen: the VM at its one location (where it was)."""
        self.quiet.forget_all()
        host = self.find(vm)
        m = self.migrations.cancel(host.key, now)
        self._count_finished([m])
        if m.phase is Phase.CANCELLED and host.location == m.dst:   # switched over: back
            event = self.tracker.declare(host.vnet, host.mac, host.ip, m.src, now)
            log.info("migration of %012x cancelled after its switch-over: back at %s",
                     host.mac, m.src)
            return host, self._stamped(self._events([event], now, cause="cancel"))
        log.info("migration of %012x to %s cancelled", host.mac, m.dst)
        return host, self._stamped([Plan(self._undo(host, m), start=now, why=f"cancel {vm}")])

    def _undo(self, host: Host, m: Migration) -> list[Step]:
        """A migration's delivery at its destination undone, the destination's side last
        (its gateway then finds no copy coming through the tunnel to send back)."""
        return ordered(self._replan([host]), self.planner.order.move_rank(m.src, m.dst))

    def tick(self, now: float, links: bool = True) -> list[Plan]:
        """The passing of time: held moves accepted, migrations timed out, links that
        fell silent (`links` False: not judged now, the runner is behind on its
        packet-ins and their LLDP may be among them), idle tunnels released."""
        plans = self._events(self.tracker.tick(now), now)
        expired = self.migrations.expire(now)
        self._count_finished(expired)
        for m in expired:
            if m.phase is Phase.EXPIRED:
                log.warning("migration of %012x to %s: %s; delivered at %s only", m.mac,
                            m.dst, m.note, m.src)
                host = self.tracker.get(m.vnet, m.mac)
                plans.append(Plan(self._undo(host, m), start=now, why="migration expired"))
        plans += self._links(now, judge=links)
        search = self.verify.due(now, self.edges)
        if search:
            log.info("hosts that did not answer where the switches had them: asked at "
                     "every edge port (%d ARP probes)", len(search))
            plans.append(Plan(sends=search, start=now, why="hosts searched"))
        plans += self._release_idle(now)
        return self._stamped(plans)

    # -- the parts --------------------------------------------------------------------

    def _count_finished(self, done: Sequence[Migration]) -> None:
        for m in done:
            self.notices.append(MigrationChanged(m))
            self.metrics.migrations[m.phase.value] = (
                self.metrics.migrations.get(m.phase.value, 0) + 1)

    def switch_state(self, switch: str, connected: bool, now: float) -> None:
        """A switch's session came up (in sync) or went (ctrl/control/linkwatch.py)."""
        self.links.switch_state(switch, connected, self.planner.links_down, now)

    def links_heard(self, now: float) -> None:
        """Every link up, as of now: a fresh interval for each to be heard in (the runner,
        once every switch is in sync); a link down stays down until heard."""
        self.links.all_heard(self.planner.links_down, now)

    def _links(self, now: float, judge: bool = True) -> list[Plan]:
        """The links down as LLDP says (`judge` False: none newly down), the trees
        rebuilt where that changed."""
        down = self.links.judged(self.planner.links_down, now, judge)
        old_hops = self.planner.set_links_down(down)
        if old_hops is None:
            return []
        self.metrics.link_changes += 1
        self.notices.append(LinksChanged(frozenset(down), now))
        log.warning("links down: %s", ", ".join(f"{x.a}-{x.b}" for x in sorted(
            down, key=lambda x: (x.a, x.b))) or "none")
        changes = self._changed(self.hostwants.paths_changed(old_hops))
        return [Plan(at_once(changes), start=now, why="links changed")]

    def _host_seen(self, switch: str, seen: HostSeen, now: float) -> list[Plan]:
        at = PortRef(switch, seen.port)
        vnet = seen.vnet
        if vnet == 0:
            # A port with no virtual network yet: a known MAC arriving there says which.
            known = self.tracker.with_mac(seen.mac)
            if len(known) != 1:
                log.debug("%s: frame from %s in no virtual network: ignored", switch, at)
                return []
            vnet = known[0].vnet
        events = self.tracker.observe(Sighting(vnet, seen.mac, seen.ip, at, now, seen.source))
        self.verify.seen((vnet, seen.mac))
        host = self.tracker.lookup((vnet, seen.mac))
        if host is not None and host.location == at:
            self.confirmed.add(host.key)
        if not events and host is not None and host.location == at:
            # Seen where it is: a migration switched over to here is done.
            ended = self.migrations.seen(host.key, at, now)
            self._count_finished([ended] if ended else [])
        plans = self._events(events, now)
        if host is not None and self.hostwants.placed(host.key) != self._placed(host):
            # Nothing moved, but something its entries follow did (a new address).
            plans.append(Plan(at_once(self._replan([host])), start=now, why="address"))
        if seen.arp is not None:
            plans += self._proxy_arp(switch, at, vnet, seen.arp, now)
        return plans

    def _proxy_arp(self, switch: str, at: PortRef, vnet: int, arp: Arp, now: float
                   ) -> list[Plan]:
        """The answer to an ARP request: the asked-for host's MAC, or the gateway's for
        anything else; a host across sites gets its tunnel up before the answer. None to
        a host asking for its own address (an RFC 5227 probe, or its own check): no other
        host holds it, and an answer would read as a conflict."""
        target = self.tracker.find_ip(vnet, arp.tpa)
        if target is not None and target.mac == arp.sha:
            return []
        if target is not None:
            mac = target.mac
        else:
            gw = self.planner.gateway_mac(vnet)
            if gw is None:
                return []
            mac = gw
        plan = Plan(start=now, why="proxy ARP")
        pair = target and self.planner.tunnel_between(switch, target.location.switch)
        if pair:
            plan.steps = self._bring_up(pair, now)
        plan.sends.append(Send(switch, at.port, arp_reply(arp, mac)))
        self.metrics.proxy_arp_replies += 1
        return [plan]

    def _events(self, events: Sequence[Event], now: float, cause: str = "sighting"
                ) -> list[Plan]:
        plans: list[Plan] = []
        for ev in events:
            if isinstance(ev, Moved):
                plans.append(self._moved(ev, now, cause))
            elif isinstance(ev, Learned):
                self.metrics.learned += 1
                at = ev.host.location
                self.notices.append(HostLearned(ev.host.vnet, ev.host.mac, ev.host.ip, at, now))
                own, others = self.hostwants.set_apart(ev.host.key, self._placed(ev.host))
                self._changed(own)
                plans.append(Plan(ordered(own, self.planner.order.move_rank(at, None), None,
                                          others),
                                  start=now, why="learned"))
            elif isinstance(ev, Held):
                # Damped, not banned: the move is accepted when the hold ends (tick).
                self.metrics.damped += 1
                log.warning("%012x keeps moving: move to %s held for %.1f s", ev.host.mac,
                            ev.new, ev.until - now)
            elif isinstance(ev, Duplicate):
                self.metrics.duplicates += 1
                log.error("MAC %012x in virtual network %d answers at %s and at %s: two hosts "
                          "share it", ev.host.mac, ev.host.vnet, ev.host.location, ev.other)
        return plans

    def _moved(self, ev: Moved, now: float, cause: str) -> Plan:
        began = self.timer() if self.timer is not None else 0.0
        host, old, new = ev.host, ev.old, ev.new
        m = self.migrations.get(host.key)
        if m is not None and cause == "sighting":   # its readied port goes with it
            ended = self.migrations.seen(host.key, new, now)
            self._count_finished([ended] if ended else [])
        own, others = self.hostwants.set_apart(host.key, self._placed(host))
        self._changed(own)
        changes = merge(own, self._tunnels_for(old, new, now))
        self.metrics.moves += 1
        self.notices.append(HostMoved(host.vnet, host.mac, old, new, now, cause))
        steps = ordered(changes, self.planner.order.move_rank(new, old), old.switch, others)
        took = self.timer() - began if self.timer is not None else 0.0
        return Plan(steps, moves=[ev], start=now, why=cause, planning=took)
