"""The controller: keeps every VM reachable on the shortest path, through every migration.

Packet-ins (ARP, RARP, DHCP), parsed a batch at a time by the C fast path,
feed the host tracker; a VM that appears or moves makes
the planner compute every switch's wanted state, and the switches are written
make-before-break: the new location first, then the other switches (in
parallel), the old location last. ARP requests are answered by the controller
(proxy ARP), so known hosts are never flooded. Each move's convergence time,
from the packet-in to the last write acknowledged, is kept and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from ctrl.control.diff import Diff
from ctrl.control.hosts import (
    Damping,
    Duplicate,
    Event,
    Held,
    Host,
    HostError,
    HostTracker,
    Learned,
    Location,
    Moved,
    Sighting,
    Source,
)
from ctrl.control.planner import InFlight, PlacedVM, Planner
from ctrl.control.session import SwitchManager
from ctrl.control.topology import Link, Topology
from ctrl.control.tunnels import Pair, TunnelUsage
from ctrl.control.wanted import WantedState
from ctrl.errors import MobilityError
from ctrl.fastpath import BatchParser
from ctrl.p4rt.entity import Entity, PacketIn, PacketOut, TableEntry
from ctrl.p4rt.schema import P4Schema
from ctrl.p4rt.values import to_int
from ctrl.punt.classify import HostSeen, NeedsTunnel, classify, parse_packet_ins
from ctrl.punt.frames import Arp, arp_reply, gre_encap
from ctrl.punt.lldp import LldpInfo, build_lldp

log = logging.getLogger(__name__)


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
    convergence_s: list[float] = field(default_factory=list)


class Controller:
    def __init__(self, topology: Topology, schema: P4Schema, device_config: bytes, *,
                 election_id: tuple[int, int] = (0, 1), damping: Damping | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 lldp_interval: float = 0.5, flight_timeout: float = 120.0,
                 tunnels_on_demand: bool = True, tunnel_idle: float = 300.0) -> None:
        self.topo = topology
        self.planner = Planner(topology)
        self.clock = clock
        self._edges = {Location(h.attach.switch, h.attach.port)
                       for h in topology.hypervisors.values()}
        self.tracker = HostTracker(lambda loc: loc in self._edges, damping)
        self.managers = {
            name: SwitchManager(sw, schema, device_config, self._on_packets, election_id)
            for name, sw in topology.switches.items()
        }
        self.metrics = Metrics()
        self.lldp_interval = lldp_interval
        self._link_at = {(ref.switch, ref.port): link for link in topology.links
                         for ref in (link.a, link.b)}
        self.link_seen: dict[Link, float] = {}
        self.provisioned: dict[Location, int] = {}  # announced arrivals: port -> vnet
        self.in_flight: dict[tuple[int, int], InFlight] = {}  # (vnet, mac) -> where to
        self.switched: dict[tuple[int, int], Location] = {}  # switched over early: from
        self.flight_timeout = flight_timeout
        self.tunnels = TunnelUsage(tunnel_idle)
        if tunnels_on_demand:
            self.planner.tunnels_up = self.tunnels.up  # the planner reads the same set
        self._background: set[asyncio.Task[None]] = set()
        self._apply_lock = asyncio.Lock()
        self.synced = asyncio.Event()
        self._in_sync: set[str] = set()
        self._parser = BatchParser()
        now = clock()
        for vm in topology.vms.values():
            at = topology.hypervisors[vm.hypervisor].attach
            self.tracker.declare(topology.vnets[vm.vnet].id, to_int(vm.mac), to_int(vm.ip),
                                 Location(at.switch, at.port), now)
        self.state = self._rebuild()

    def in_sync(self, switch: str) -> bool:
        """Whether `switch` has been brought to the wanted state since it connected."""
        return switch in self._in_sync and self.managers[switch].ready.is_set()

    def placed(self) -> list[PlacedVM]:
        return [PlacedVM(h.vnet, h.mac, h.ip, h.location) for h in self.tracker.hosts()]

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set: one task per switch, each synced as it connects; one
        switch that cannot be reached or refuses writes holds up no other."""
        try:
            async with asyncio.TaskGroup() as tg:
                for name, mgr in self.managers.items():
                    tg.create_task(mgr.run(stop, self._on_connect), name=name)
                if self.topo.links and self.lldp_interval > 0:
                    tg.create_task(self._watch_links(stop), name="lldp")
                if self.planner.tunnels_up is not None and self.planner.tunnels():
                    tg.create_task(self._watch_tunnels(stop), name="tunnels")
                await stop.wait()
        finally:
            background = list(self._background)  # held moves, migration time-outs
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)

    async def _on_connect(self, switch: str) -> None:
        async with self._apply_lock:
            written = await self.managers[switch].apply(self.state.entities(switch))
        log.info("%s: in sync (%d writes)", switch, written)
        self._in_sync.add(switch)
        # `ready` is set on connecting, before the sync: every switch must have synced.
        if (self._in_sync == set(self.managers) and not self.synced.is_set()
                and all(m.ready.is_set() for m in self.managers.values())):
            self.synced.set()
            log.info("all %d switches in sync", len(self.managers))

    # -- what the switches should hold: kept per owner, changed per event -----------------

    def _rebuild(self) -> WantedState:
        """Everything from scratch: at start, and when paths or tunnels change."""
        state = WantedState()
        for switch in self.topo.switches:
            state.set(("base", switch), {switch: self.planner.base(switch)})
        for host in self.tracker.hosts():
            state.set(("vm", host.key), self._plan_host(host))
        for at, vnet in self.provisioned.items():
            state.set(("port", at), {at.switch: [self.planner.ready_port(at, vnet)]})
        return state

    def _plan_host(self, host: Host) -> dict[str, list[Entity]]:
        vm = PlacedVM(host.vnet, host.mac, host.ip, host.location)
        flight = self.in_flight.get(host.key)
        return {sw: self.planner.vm_entries(sw, vm, flight) for sw in self.topo.switches}

    def _replan(self, hosts: list[Host], ports: Sequence[Location] = ()) -> dict[str, Diff]:
        """Only these hosts' and ready ports' entries again; what changed, by switch."""
        wants: list[tuple[object, dict[str, list[Entity]]]] = [
            (("vm", h.key), self._plan_host(h)) for h in hosts]
        for at in ports:
            vnet = self.provisioned.get(at)
            wants.append((("port", at), {} if vnet is None else
                          {at.switch: [self.planner.ready_port(at, vnet)]}))
        return self.state.set_many(wants)

    def wanted(self) -> dict[str, list[Entity]]:
        return {sw: self.state.entities(sw) for sw in self.topo.switches}

    async def reconcile(self, new: Location | None = None, old: Location | None = None,
                        changes: dict[str, Diff] | None = None) -> int:
        """Write what changed to every connected switch (everything again when `changes`
        is None), make-before-break around a move: the new location first, then the
        others in parallel, the old location last. A switch that is not connected is
        brought up to date when it connects."""
        async with self._apply_lock:
            if changes is None:
                self.state = self._rebuild()
            live = [n for n, m in self.managers.items() if m.ready.is_set()
                    and (changes is None or n in changes)]
            if new is None:
                return await self._apply_all(live, changes)
            order = [s for s in self.planner.order_switches(new, old) if s in live]
            if not order:
                return 0
            # Slices of the order, so no switch is in two groups (a move between two
            # ports of one switch is one write there).
            head = 1 if order[0] == new.switch else 0
            tail = 1 if old is not None and len(order) > head and order[-1] == old.switch \
                else 0
            written = 0
            for group in (order[:head], order[head:len(order) - tail],
                          order[len(order) - tail:]):
                written += await self._apply_all(group, changes)
            return written

    async def _apply_all(self, switches: list[str], changes: dict[str, Diff] | None) -> int:
        results = await asyncio.gather(*(
            self.managers[s].apply_diff(None if changes is None else changes[s],
                                        partial(self.state.entities, s))
            for s in switches), return_exceptions=True)
        written = 0
        for name, result in zip(switches, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, MobilityError):
                    raise result
                log.error("%s: could not be brought up to date: %s", name, result)
            else:
                written += result
        return written

    def find(self, vm: str) -> Host:
        """A VM by its name in the topology or by its MAC address."""
        if vm in self.topo.vms:
            decl = self.topo.vms[vm]
            return self.tracker.get(self.topo.vnets[decl.vnet].id, to_int(decl.mac))
        try:
            mac = to_int(vm)
        except ValueError:
            raise HostError(f"no VM {vm!r}") from None
        found = [h for h in self.tracker.hosts() if h.mac == mac]
        if not found:
            raise HostError(f"no VM {vm!r}")
        return found[0]

    def hypervisor_of(self, vm: str) -> str | None:
        """The hypervisor whose switch port the VM is at (None: at no hypervisor's)."""
        at = self.find(vm).location
        return next((name for name, h in self.topo.hypervisors.items()
                     if Location(h.attach.switch, h.attach.port) == at), None)

    async def announce(self, vm: str, hypervisor: str) -> Host:
        """An announced migration: ready the new port and deliver the VM's frames at both
        locations until its RARP at the new one, which is accepted at once. Undone when
        no RARP comes within `flight_timeout` seconds, or by `cancel`. Announcing it
        again (an operator, then the hypervisor's own event) changes nothing."""
        host = self.find(vm)
        hyp = self.topo.hypervisors.get(hypervisor)
        if hyp is None:
            raise HostError(f"no hypervisor {hypervisor!r} "
                            f"(hypervisors: {', '.join(sorted(self.topo.hypervisors))})")
        to = Location(hyp.attach.switch, hyp.attach.port)
        if to == host.location:
            raise HostError(f"{vm} is already at {hypervisor} ({to})")
        flight = self.in_flight.get(host.key)
        if flight is not None and flight.to == to:
            log.debug("migration of %012x to %s: announced already", host.mac, to)
            return host
        self.tracker.expect(host.vnet, host.mac, to)
        self.provisioned[to] = host.vnet
        used = {f.group for f in self.in_flight.values()}
        flight = InFlight(to, next(g for g in range(1, len(used) + 2) if g not in used))
        self.in_flight[host.key] = flight
        self.switched.pop(host.key, None)
        changes: dict[str, Diff] | None = self._replan([host], [to])
        if self._tunnels_for(host.location, to):
            changes = None   # gateways change too: everything again
        await self.reconcile(changes=changes)
        log.info("migration of %012x to %s announced: delivered at %s and %s until its RARP",
                 host.mac, to, host.location, to)
        task = asyncio.create_task(self._expire(host, flight))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return host

    def _tunnels_for(self, old: Location, new: Location) -> bool:
        """A move to another site: the tunnel between the two sites' gateways (the VM's
        peers at its old site reach it through it) and a twin to the new gateway of
        every tunnel to the old one (its peers elsewhere, re-homed), up with the move, or
        before the VM arrives when it is announced: nothing waits for a gateway's punt.
        True when any tunnel came up."""
        pair = self.planner.tunnel_between(old.switch, new.switch)
        if pair is None or self.planner.tunnels_up is None:
            return False
        now = self.clock()
        changed = self.tunnels.bring_up(pair, now)
        changed |= self.tunnels.rehome(*pair, now)
        if changed:
            self.metrics.tunnels_brought_up += 1
            log.info("GRE tunnels to %s up for a migration from %s", pair[1], pair[0])
        return changed

    async def switch_over(self, vm: str) -> Host:
        """An announced migration whose VM has stopped at its source for the last copy:
        its frames go to the new location from now on, while it is paused. Across
        sites, where nothing can be delivered at both places (no replica enters a
        tunnel), this keeps the switch-over inside the VM's own pause; its RARP at
        the new location then finds it there. `cancel` moves it back."""
        host = self.find(vm)
        flight = self.in_flight.get(host.key)
        if flight is None:
            raise HostError(f"{vm} has no migration under way")
        old, now = host.location, self.clock()
        await self._handle(self.tracker.observe(
            Sighting(host.vnet, host.mac, host.ip, flight.to, now, Source.API)), now)
        self.switched[host.key] = old
        log.info("migration of %012x: switched over to %s while it is paused", host.mac,
                 flight.to)
        return host

    async def cancel(self, vm: str) -> Host:
        """An announced migration that will not happen: back to the VM's one location
        (where it was, if it had been switched over already)."""
        host = self.find(vm)
        flight = self.in_flight.get(host.key)
        back = self.switched.pop(host.key, None)
        if flight is None and back is not None:
            now = self.clock()
            self.tracker.expect(host.vnet, host.mac, back)
            await self._handle(self.tracker.observe(
                Sighting(host.vnet, host.mac, host.ip, back, now, Source.API)), now)
            log.info("migration of %012x cancelled after its switch-over: back at %s",
                     host.mac, back)
            return host
        if flight is None:
            raise HostError(f"{vm} has no migration under way")
        await self._land(host, flight)
        log.info("migration of %012x to %s cancelled", host.mac, flight.to)
        return host

    async def _expire(self, host: Host, flight: InFlight) -> None:
        await asyncio.sleep(self.flight_timeout)
        if self.in_flight.get(host.key) is flight:
            log.warning("migration of %012x to %s: no RARP in %.0f s, back to %s", host.mac,
                        flight.to, self.flight_timeout, host.location)
            try:
                await self._land(host, flight)
            except MobilityError as exc:
                log.error("undoing the migration of %012x failed: %s", host.mac, exc)

    async def _land(self, host: Host, flight: InFlight) -> None:
        del self.in_flight[host.key]
        if host.expected == flight.to:
            host.expected = None
        if not any(f.to == flight.to for f in self.in_flight.values()):
            self.provisioned.pop(flight.to, None)
        await self.reconcile(changes=self._replan([host], [flight.to]))

    async def _watch_links(self, stop: asyncio.Event) -> None:
        """LLDP out of every fabric port each interval; a link not heard from for three
        intervals, after it was heard once, is down until it is heard again."""
        while not stop.is_set():
            for name, mgr in self.managers.items():
                client = mgr.client
                if client is None:
                    continue
                for port in self.planner.fabric_ports(name):
                    frame = build_lldp(name, port, b"\x02\x00\x00\x00\x00\xfe")
                    try:
                        await client.packet_out(PacketOut(frame, {"egress_port": port}))
                    except MobilityError as exc:
                        log.warning("%s: LLDP out of port %d: %s", name, port, exc)
            await self._check_links(self.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.lldp_interval)

    async def _check_links(self, now: float) -> None:
        timeout = 3 * self.lldp_interval
        down = {link for link, seen in self.link_seen.items() if now - seen > timeout}
        if self.planner.set_links_down(down):
            self.metrics.link_changes += 1
            log.warning("links down: %s", ", ".join(f"{x.a}-{x.b}" for x in down) or "none")
            try:
                await self.reconcile()
            except MobilityError as exc:  # the next change or reconnection repairs it
                log.error("rerouting around links down failed: %s", exc)

    async def _on_lldp(self, switch: str, port: int, info: LldpInfo) -> None:
        link = self._link_at.get((switch, port))
        if link is None or self._link_at.get((info.chassis, info.port)) is not link:
            log.warning("LLDP from %s:%d on %s:%d matches no link of the topology",
                        info.chassis, info.port, switch, port)
            return
        self.link_seen[link] = self.clock()
        if link in self.planner.links_down:
            await self._check_links(self.clock())

    async def _on_packet(self, switch: str, pkt: PacketIn) -> None:
        await self._on_packets(switch, [pkt])

    async def _on_packets(self, switch: str, pkts: list[PacketIn]) -> None:
        """Every packet-in a switch had waiting: one parse, then each frame in order."""
        start = self.clock()
        seen = classify(parse_packet_ins(self._parser, pkts), [p.payload for p in pkts])
        self.metrics.packet_ins += len(pkts)
        if seen.malformed:
            self.metrics.malformed += seen.malformed
            log.debug("%s: %d malformed packet-ins dropped", switch, seen.malformed)
        for probe in seen.probes:
            await self._on_lldp(switch, probe.port, probe.info)
        for host in seen.hosts:
            await self._on_host(switch, host, start)
        for frame in seen.unbridged:
            await self._through_tunnel(switch, frame)

    async def _on_host(self, switch: str, seen: HostSeen, start: float) -> None:
        at = Location(switch, seen.port)
        vnet = seen.vnet
        if vnet == 0:
            # A port with no virtual network yet: a known MAC arriving there says which.
            known = [h for h in self.tracker.hosts() if h.mac == seen.mac]
            if len(known) != 1:
                log.debug("%s: frame from %s in no virtual network: ignored", switch, at)
                return
            vnet = known[0].vnet
        events = self.tracker.observe(Sighting(vnet, seen.mac, seen.ip, at, start, seen.source))
        await self._handle(events, start)
        if seen.arp is not None:
            target = self.tracker.find_ip(vnet, seen.arp.tpa)
            pair = target and self.planner.tunnel_between(switch, target.location.switch)
            if pair:  # it will talk across sites: the tunnel is up before the ARP answer
                await self._bring_up(pair)
            await self._proxy_arp(switch, at, vnet, seen.arp)

    async def _bring_up(self, pair: Pair) -> None:
        if self.tunnels.bring_up(pair, self.clock()):
            self.metrics.tunnels_brought_up += 1
            log.info("GRE tunnel %s <-> %s up", *pair)
            await self.reconcile()

    async def _through_tunnel(self, switch: str, u: NeedsTunnel) -> None:
        """A gateway punted a frame whose tunnel is down: bring it up, then send the frame
        through it from here, encapsulated as the switch would have (nothing lost)."""
        try:
            host = self.tracker.get(u.vnet, u.dst_mac)
        except HostError:
            log.debug("%s: punted frame for unknown %012x dropped", switch, u.dst_mac)
            return
        pair = self.planner.tunnel_between(switch, host.location.switch)
        if pair is None or pair[0] != switch:
            return
        await self._bring_up(pair)
        here, there = self.topo.switches[pair[0]].underlay, self.topo.switches[pair[1]].underlay
        client = self.managers[switch].client
        if here is None or there is None or client is None:
            return
        peer = self.planner.underlay_peer(*pair)
        frame = gre_encap(u.frame, key=u.vnet, src_ip=to_int(here.ip), dst_ip=to_int(there.ip),
                          src_mac=to_int(peer.src_mac), dst_mac=to_int(peer.dst_mac))
        await client.packet_out(PacketOut(frame, {"egress_port": here.port}))

    async def _watch_tunnels(self, stop: asyncio.Event) -> None:
        """Reads the tunnels' packet counters; releases those idle for `tunnels.idle`."""
        interval = max(0.1, min(5.0, self.tunnels.idle / 4))
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            now = self.clock()
            for gateway in sorted({a for a, _ in self.tunnels.up}):
                client = self.managers[gateway].client
                if client is None:
                    continue
                try:
                    entries = await client.read_table("tunnel_encap", counters=True)
                except MobilityError as exc:
                    log.warning("%s: reading tunnel counters: %s", gateway, exc)
                    continue
                packets = {to_int(e.match["tunnel_id"]): e.counter.packets for e in entries
                           if isinstance(e, TableEntry) and e.counter is not None}
                for pair in [p for p in self.tunnels.up if p[0] == gateway]:
                    count = packets.get(self.planner.tunnel_id(*pair))
                    if count is not None:
                        self.tunnels.observe(pair, count, now)
            idle = self.tunnels.idle_since(now)
            if idle:
                self.tunnels.release(idle)
                self.metrics.tunnels_released += len(idle)
                log.info("GRE tunnels idle for %.0f s released: %s", self.tunnels.idle,
                         ", ".join(f"{a}->{b}" for a, b in idle))
                try:
                    await self.reconcile()
                except MobilityError as exc:
                    log.error("releasing idle tunnels: %s", exc)

    async def _handle(self, events: list[Event], start: float) -> None:
        for ev in events:
            if isinstance(ev, Moved):
                self.provisioned.pop(ev.new, None)
                self.in_flight.pop(ev.host.key, None)
                self.switched.pop(ev.host.key, None)
                changes: dict[str, Diff] | None = self._replan([ev.host], [ev.new])
                if ev.old is not None and self._tunnels_for(ev.old, ev.new):
                    changes = None  # gateways change too: everything again
                written = await self.reconcile(ev.new, ev.old, changes)
                took = self.clock() - start
                self.metrics.moves += 1
                self.metrics.convergence_s.append(took)
                log.info("%012x moved %s -> %s: %d writes, converged in %.1f ms",
                         ev.host.mac, ev.old, ev.new, written, took * 1e3)
            elif isinstance(ev, Learned):
                self.metrics.learned += 1
                await self.reconcile(ev.host.location, None, self._replan([ev.host]))
            elif isinstance(ev, Held):
                # Damped, not banned: the move is accepted when the hold ends.
                self.metrics.damped += 1
                log.warning("%012x keeps moving: move to %s held for %.1f s", ev.host.mac,
                            ev.new, ev.until - self.clock())
                task = asyncio.create_task(self._release_held(ev.until - self.clock()))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            elif isinstance(ev, Duplicate):
                self.metrics.duplicates += 1
                log.error("MAC %012x in virtual network %d answers at %s and at %s: two hosts "
                          "share it", ev.host.mac, ev.host.vnet, ev.host.location, ev.other)

    async def _release_held(self, delay: float) -> None:
        await asyncio.sleep(max(0.0, delay))
        now = self.clock()
        try:
            await self._handle(self.tracker.tick(now), now)
        except MobilityError as exc:
            log.error("accepting a held move failed: %s", exc)

    async def _proxy_arp(self, switch: str, at: Location, vnet: int, arp: Arp) -> None:
        host = self.tracker.find_ip(vnet, arp.tpa)
        if host is not None:
            mac = host.mac
        else:
            gw = next((v.gateway_mac for v in self.topo.vnets.values()
                       if v.id == vnet and v.gateway_mac), None)
            if gw is None:
                return
            mac = to_int(gw)  # anything else is reached through the gateway
        mgr = self.managers[switch]
        if mgr.client is None:
            return
        await mgr.client.packet_out(PacketOut(arp_reply(arp, mac), {"egress_port": at.port}))
        self.metrics.proxy_arp_replies += 1
