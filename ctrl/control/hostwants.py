"""What the switches should hold for the hosts, derived, not stored. Pure.

The wanted entries of 100,000 VMs on 320 switches would be millions of objects; they
are a function of where each host is, the paths and the tunnels up, so only that is
kept: each host as its entries were last planned (`Placed`), indexed by virtual
network and switch, by access port and by address. A switch's share is made when a
switch syncs (`on_switch`); a change to a host (`set`) gives the Diff per switch from
its entries before to its entries after, compared as compact values first
(Planner.forwarding) so that only what changes becomes an entity. Entities per host:

- bridging on every switch its virtual network's members reach it through
  (ctrl.control.footprint); flooded both ways along the path to where it is announced
  to arrive while it is in flight, with that path's multicast group;
- routing_v4 on every member switch of its virtual network (frames are routed at the
  first switch, where their sender is) when the network has a gateway and the host an
  address; where two hosts claim one address, the one that claimed it first; and the
  network's my_station (its gateway MAC) on the same switches;
- ingress_port at its port (and at a port readied for its arrival): an access port of
  its virtual network, of the one there longest where two share a port.

Everything derives from the `Placed` records, not from the tracker's live hosts, so the
switches and this agree whatever the tracker does between two `set`s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ctrl.control.claims import Claims
from ctrl.control.compactwant import Wants, access_entry, route_entry
from ctrl.control.diff import Diff, same
from ctrl.control.footprint import Footprints, NextHops, crossing
from ctrl.control.hosts import Keyed
from ctrl.control.planner import (
    Fwd,
    InFlight,
    Planner,
    TunnelsUp,
    bridging_entities,
)
from ctrl.control.topology import PortRef
from ctrl.p4rt.entity import Entity, MulticastGroupEntry, TableEntry, delete, insert, modify

HostKey = tuple[int, int]   # (virtual network, MAC)
EntityKey = object


@dataclass(frozen=True, slots=True)
class Placed(Keyed):
    """A host as its entries are planned: where it is, and where it is in flight to. Its
    key is the tracker's host's own tuple, the key of every index here (not a copy)."""

    key: HostKey
    ip: int | None
    at: PortRef
    flight: InFlight | None = None

    def ports(self) -> tuple[PortRef, ...]:
        return (self.at,) if self.flight is None else (self.at, self.flight.to)


class Changes:
    """Entities before and after, by switch and key: the Diffs between them."""

    def __init__(self) -> None:
        self._was: dict[tuple[str, EntityKey], Entity | None] = {}
        self._now: dict[tuple[str, EntityKey], Entity | None] = {}

    def before(self, items: Iterable[tuple[str, Entity]]) -> None:
        for sw, e in items:
            self._was.setdefault((sw, e.key()), e)
            self._now.setdefault((sw, e.key()), None)

    def after(self, items: Iterable[tuple[str, Entity]]) -> None:
        for sw, e in items:
            k = (sw, e.key())
            self._was.setdefault(k, None)
            self._now[k] = e

    def gone(self, items: Iterable[tuple[str, Entity]]) -> None:
        """Entities there before and not after (known to differ: no after asked)."""
        for sw, e in items:
            self._was.setdefault((sw, e.key()), e)
            self._now[sw, e.key()] = None

    def diffs(self) -> dict[str, Diff]:
        out: dict[str, tuple[list[Entity], list[Entity], list[Entity]]] = {}
        for k, was in self._was.items():
            now = self._now[k]
            if was is None and now is None:
                continue
            ins, mod, dele = out.setdefault(k[0], ([], [], []))
            if was is None:
                ins.append(now)   # type: ignore[arg-type]
            elif now is None:
                dele.append(was)
            elif not same(was, now):
                mod.append(now)
        return {sw: Diff(tuple(map(insert, i)), tuple(map(modify, m)), tuple(map(delete, d)))
                for sw, (i, m, d) in out.items() if i or m or d}


class HostWants:
    def __init__(self, planner: Planner, up: Callable[[], TunnelsUp]) -> None:
        self.planner = planner
        self.topo = planner.topo
        self.up = up
        self.footprints = Footprints(planner.topo, planner.gateway, planner.next_hops)
        self._placed: dict[HostKey, Placed] = {}
        # vnet -> switch -> hosts: lists (a set of ~50 keys is 4 KB, a list 0.5), removal
        # a scan of the hosts of one network at one switch
        self._at: dict[int, dict[str, list[HostKey]]] = {}
        self._ports: dict[str, dict[int, dict[int, int]]] = {}  # switch -> port -> vnet -> n
        self._ips: dict[int, Claims[int, HostKey]] = {}        # vnet -> ip -> claims

    def __len__(self) -> int:
        return len(self._placed)

    def placed(self, key: HostKey) -> Placed | None:
        return self._placed.get(key)

    # -- the entities -------------------------------------------------------------------

    def _forwarding(self, p: Placed, switches: Iterable[str], up: TunnelsUp,
                    hops: NextHops | None = None) -> dict[str, Fwd]:
        return self.planner.forwarding(switches, p.at, p.flight, up, hops)

    def _own(self, p: Placed, reach: Iterable[str], up: TunnelsUp,
             hops: NextHops | None = None) -> list[tuple[str, Entity]]:
        return [(sw, e) for sw, fwd in self._forwarding(p, reach, up, hops).items()
                for e in bridging_entities(p.vnet, p.mac, fwd)]

    def _routes(self, vnet: int, ips: Iterable[int], switches: Iterable[str],
                station: bool = False) -> list[tuple[str, Entity]]:
        """The host routes of `ips` (and with `station`, my_station) on `switches`."""
        entries: list[Entity] = [self._route_entry(vnet, ip, mac) for ip in ips
                                 if (mac := self._winner(vnet, ip)) is not None]
        if station and (st := self.planner.my_station(vnet)) is not None:
            entries.append(st)
        return [(sw, e) for sw in switches for e in entries]

    def on_switch(self, switch: str, out: Wants | None = None) -> list[Entity]:
        """Every entity `switch` should hold for the hosts (put into `out` when given:
        ctrl/control/compactwant.py, as their compact forms; then [] is returned)."""
        into = Wants() if out is None else out
        up = self.up()
        groups: set[int] = set()   # a flight's group is wanted once (the first)
        for vnet, dests in self._at.items():
            for dest, keys in dests.items():
                if switch in self.footprints.reach(vnet, dest):
                    self._toward(into, groups, switch, dest, keys, up)
            if switch in self.footprints.members(vnet):
                gw = self.planner.gateway_mac(vnet)
                claims = self._ips.get(vnet)
                if gw is not None and claims is not None:
                    ips: list[int] = []
                    macs: list[int] = []
                    for ip, (_, mac) in claims.firsts():
                        ips.append(ip)
                        macs.append(mac)
                    into.routes(vnet, gw, ips, macs)
                if (st := self.planner.my_station(vnet)) is not None:
                    into.entity(st)
        for port in self._ports.get(switch, {}):
            at = PortRef(switch, port)
            net = self._port_vnet(at)
            if net is not None:
                into.access(at, net)
        return into.out if out is None else []   # one entry per host, address, port

    def _toward(self, out: Wants, groups: set[int], switch: str, dest: str,
                keys: Iterable[HostKey], up: TunnelsUp) -> None:
        """The bridging of `switch` for the hosts at `dest`: those not in flight forwarded
        alike (decided once), or at `dest` itself to their port; in runs (of hosts not
        in flight, in turn), into `out`."""
        fwd: Fwd | None = None
        decided = here = dest == switch
        vnet = 0
        macs: list[int] = []
        ports: list[int] = []
        for k in keys:
            p = self._placed[k]
            if p.flight is None:
                if not decided:
                    decided, fwd = True, self._forwarding(p, [switch], up).get(switch)
                if here or fwd is not None:
                    if macs and k[0] != vnet:
                        self._run(out, vnet, macs, ports, fwd)
                        macs, ports = [], []
                    vnet = k[0]
                    macs.append(k[1])
                    if here:
                        ports.append(p.at.port)
                continue
            self._run(out, vnet, macs, ports, fwd)
            macs, ports = [], []
            for _, e in self._own(p, [switch], up):
                if isinstance(e, MulticastGroupEntry):
                    if e.group_id in groups:
                        continue
                    groups.add(e.group_id)
                out.entity(e)
        self._run(out, vnet, macs, ports, fwd)

    @staticmethod
    def _run(out: Wants, vnet: int, macs: list[int], ports: list[int], fwd: Fwd | None
             ) -> None:
        if not macs:
            return
        if ports:
            out.forward(vnet, macs, ports)
        else:
            assert fwd is not None
            out.bridging(vnet, macs, fwd)

    # -- changes ------------------------------------------------------------------------

    def set(self, key: HostKey, new: Placed | None) -> dict[str, Diff]:
        """The host is planned as `new` from now on (None: it is gone): what changes."""
        return self.set_many([(key, new)])

    def set_many(self, items: Iterable[tuple[HostKey, Placed | None]]) -> dict[str, Diff]:
        """Several hosts in order; the net change of all of them, by switch."""
        changes = Changes()
        for key, new in items:
            self._set(changes, changes, key, new)
        return changes.diffs()

    def set_apart(self, key: HostKey, new: Placed | None
                  ) -> tuple[dict[str, Diff], dict[str, Diff]]:
        """`set`, its changes in two: the host's own entries (its bridging, its address,
        its ports), and the others' its arrival or departure brings to switches its
        network reaches now, or takes from those it no longer does (the others stay
        where they are: only inserts and deletes along their unchanged trees)."""
        own, others = Changes(), Changes()
        self._set(own, others, key, new)
        return own.diffs(), others.diffs()

    def _set(self, changes: Changes, others_changes: Changes, key: HostKey,
             new: Placed | None) -> None:
        old = self._placed.get(key)
        if old == new:
            return
        vnet, mac = key
        up = self.up()
        fp = self.footprints
        delta: dict[str, int] = {}
        for p in old.ports() if old else ():
            delta[p.switch] = delta.get(p.switch, 0) - 1
        for p in new.ports() if new else ():
            delta[p.switch] = delta.get(p.switch, 0) + 1
        regrown = any((fp.count(vnet, s) > 0) != (fp.count(vnet, s) + d > 0)
                      for s, d in delta.items())
        members = set(fp.members(vnet)) if regrown else set()
        others = {d: fp.reach(vnet, d) for d in self._at.get(vnet, {})} if regrown else {}
        ips = {p.ip for p in (old, new) if p is not None and p.ip is not None}
        ports = {at for p in (old, new) if p is not None for at in p.ports()}
        # before, compactly: only what differs becomes an entity
        fwd_before = ({} if old is None
                      else self._forwarding(old, fp.reach(vnet, old.at.switch), up))
        routed_before = {ip: self._winner(vnet, ip) for ip in ips}
        ports_before = {at: self._port_vnet(at) for at in ports}
        # the change
        self._unindex(old, fp)
        self._index(new, fp)
        # after
        fwd_after = ({} if new is None
                     else self._forwarding(new, fp.reach(vnet, new.at.switch), up))
        for sw in fwd_before.keys() | fwd_after.keys():
            a, b = fwd_before.get(sw), fwd_after.get(sw)
            if a != b:
                if a is not None:
                    changes.before((sw, e) for e in bridging_entities(vnet, mac, a))
                if b is not None:
                    changes.after((sw, e) for e in bridging_entities(vnet, mac, b))
        routed = {ip: self._winner(vnet, ip) for ip in ips}
        after = set(fp.members(vnet)) if regrown or routed != routed_before else set()
        if not regrown:
            members = after   # the same switches before and after
        for ip in ips if regrown or routed != routed_before else ():
            for sw in members | after:
                was = routed_before[ip] if sw in members else None
                now = routed[ip] if sw in after else None
                if was != now:
                    if was is not None:
                        changes.before([(sw, self._route_entry(vnet, ip, was))])
                    if now is not None:
                        changes.after([(sw, self._route_entry(vnet, ip, now))])
        for at in ports:
            net_was, net_now = ports_before[at], self._port_vnet(at)
            if net_was != net_now:
                if net_was is not None:
                    changes.before([(at.switch, access_entry(at, net_was))])
                if net_now is not None:
                    changes.after([(at.switch, access_entry(at, net_now))])
        if not regrown:
            return
        # the others' routes and my_station where the network gained or lost a switch,
        # and their bridging where the reach toward them grew or shrank
        theirs = set(self._ips.get(vnet, ())) - ips
        others_changes.gone(self._routes(vnet, theirs, members - after, station=True))
        others_changes.after(self._routes(vnet, theirs, after - members, station=True))
        for dest, reached in others.items():
            reaches = fp.reach(vnet, dest)
            for k in self._at.get(vnet, {}).get(dest, ()):
                if k == key:
                    continue
                other = self._placed[k]
                others_changes.after(self._own(other, reaches - reached, up))
                others_changes.gone(self._own(other, reached - reaches, up))

    def _winner(self, vnet: int, ip: int) -> int | None:
        """The MAC a host route to `ip` leads to (None: no route), as claimed now."""
        claims = self._ips.get(vnet)
        first = None if claims is None else claims.first(ip)
        if first is None or self.planner.gateway_mac(vnet) is None:
            return None
        return first[1]

    def _route_entry(self, vnet: int, ip: int, mac: int) -> TableEntry:
        gw = self.planner.gateway_mac(vnet)
        assert gw is not None
        return route_entry(vnet, ip, gw, mac)

    def _port_vnet(self, at: PortRef) -> int | None:
        vnets = self._ports.get(at.switch, {}).get(at.port)
        return next(iter(vnets)) if vnets else None

    def _index(self, p: Placed | None, fp: Footprints) -> None:
        if p is None:
            return
        self._placed[p.key] = p
        self._at.setdefault(p.vnet, {}).setdefault(p.at.switch, []).append(p.key)
        for at in p.ports():
            fp.add(p.vnet, at.switch)
            vnets = self._ports.setdefault(at.switch, {}).setdefault(at.port, {})
            vnets[p.vnet] = vnets.get(p.vnet, 0) + 1
        if p.ip is not None:
            claims = self._ips.get(p.vnet)
            if claims is None:   # (no Claims made a host only to be thrown away)
                claims = self._ips[p.vnet] = Claims()
            claims.add(p.ip, p.key)

    def _unindex(self, p: Placed | None, fp: Footprints) -> None:
        if p is None:
            return
        del self._placed[p.key]
        at = self._at[p.vnet]
        at[p.at.switch].remove(p.key)
        if not at[p.at.switch]:
            del at[p.at.switch]
            if not at:
                del self._at[p.vnet]
        for ref in p.ports():
            fp.remove(p.vnet, ref.switch)
            ports = self._ports[ref.switch]
            vnets = ports[ref.port]
            vnets[p.vnet] -= 1
            if not vnets[p.vnet]:
                del vnets[p.vnet]
                if not vnets:
                    del ports[ref.port]
                    if not ports:
                        del self._ports[ref.switch]
        if p.ip is not None:
            ips = self._ips[p.vnet]
            ips.remove(p.ip, p.key)
            if not ips:
                del self._ips[p.vnet]

    def tunnels_changed(self, before: TunnelsUp, after: TunnelsUp) -> dict[str, Diff]:
        """Tunnels came up or went: the gateways' entries toward the far sites' hosts."""
        pairs = ({*(before or ()), *(after or ())} - (set(before or ()) & set(after or ()))
                 if before is not None and after is not None else set())
        changes = Changes()
        for here, there in sorted(pairs):
            far = self.topo.switches[there].site
            for vnet, dests in self._at.items():
                for dest, keys in dests.items():
                    if self.topo.switches[dest].site != far \
                            or here not in self.footprints.reach(vnet, dest):
                        continue
                    for k in keys:
                        p = self._placed[k]
                        changes.before(self._own(p, [here], before))
                        changes.after(self._own(p, [here], after))
        return changes.diffs()

    def paths_changed(self, old_hops: Mapping[str, Mapping[str, str]]) -> dict[str, Diff]:
        """The trees toward `old_hops`' destinations changed (links down or back): the
        entries of the hosts whose frames follow them, from the old trees to the new."""
        def before(dest: str) -> Mapping[str, str]:
            got = old_hops.get(dest)
            return self.planner.next_hops(dest) if got is None else got

        gateways = {self.planner.gateway(s) for s in self.topo.sites
                    if self._has_gateway(s)}
        every = bool(gateways & set(old_hops))
        up = self.up()
        changes = Changes()
        old_reach: dict[tuple[int, str], frozenset[str]] = {}
        for vnet, dests in self._at.items():
            for dest in dests:
                if every or dest in old_hops:
                    old_reach[vnet, dest] = crossing(
                        self.topo, self.planner.gateway, before,
                        self.footprints.members(vnet), dest)
        self.footprints.forget_paths()
        for (vnet, dest), was in old_reach.items():
            now = self.footprints.reach(vnet, dest)
            for k in self._at[vnet][dest]:
                p = self._placed[k]
                changes.before(self._own(p, was, up, before))
                changes.after(self._own(p, now, up))
        return changes.diffs()

    def _has_gateway(self, site: str) -> bool:
        return any(s.underlay for s in self.topo.switches_of_site(site))

    def place_many(self, hosts: Iterable[Placed]) -> None:
        """These hosts planned as given, with no Diff (switches about to sync all)."""
        for p in hosts:
            self._unindex(self._placed.get(p.key), self.footprints)
            self._index(p, self.footprints)

    def reset(self, hosts: Iterable[Placed]) -> None:
        """Exactly these hosts, with no Diff (the switches' syncs write what differs)."""
        self._placed.clear()
        self._at.clear()
        self._ports.clear()
        self._ips.clear()
        self.footprints = Footprints(self.topo, self.planner.gateway, self.planner.next_hops)
        for p in hosts:
            self._index(p, self.footprints)

