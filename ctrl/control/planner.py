"""The wanted table entries of every switch, from the topology and where the VMs are.

Pure: topology, host locations and a next-hop function in; per-switch entity
sets out. `ctrl.control.diff` turns them into the fewest writes, and the migration
order (new location first, then outward, old location last) is `order`
(ctrl.control.moveorder).

Forwarding model (mobility.p4):
- a VM's port is an access port of its virtual network;
- inside a site, frames follow the fewest-links path over fabric links, tagged
  with the virtual network; across sites they go to the site's gateway switch
  (the one with an underlay address) and into a GRE tunnel to the far gateway,
  which terminates it and carries on inside its own site. With tunnels on
  demand (`up`, the set of tunnels up, given to `base` and `vm_entries`), a
  tunnel (its tunnel_encap entry) exists only while it is up, the underlay's
  next hops to the far gateways always; a frame that needs a tunnel that is
  down goes to the controller, which brings it up and sends that frame through
  it itself; with `up` None every tunnel is up;
- a virtual network with a gateway MAC is routed by host routes on every
  switch, so a VM keeps its address wherever it is;
- a VM announced to migrate is "in flight": until its RARP at the new location,
  its frames are delivered at both locations (multicast groups along the path
  between them), as OVN's multi-chassis port binding does, so whatever arrives
  while the VM switches over is not lost. Across sites the path runs through the
  two sites' gateways and the tunnel between them: a replica whose instance is a
  tunnel id is a copy into that tunnel (mobility.p4's TunnelReplica).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from ctrl.control.footprint import NextHops
from ctrl.control.moveorder import MoveOrder
from ctrl.control.paths import SwitchPaths
from ctrl.control.topology import Link, PortRef, Topology
from ctrl.errors import MobilityError
from ctrl.p4rt.entity import Entity, MulticastGroupEntry, Replica, TableEntry
from ctrl.p4rt.values import to_int

ETHERTYPE_ARP, ETHERTYPE_RARP, ETHERTYPE_LLDP, ETHERTYPE_IPV4 = 0x0806, 0x8035, 0x88CC, 0x0800
PUNTS = (  # (ether_type, ip_proto, l4_dst_port, reason)
    (ETHERTYPE_ARP, 0, 0, 1),
    (ETHERTYPE_RARP, 0, 0, 2),
    (ETHERTYPE_LLDP, 0, 0, 3),
    (ETHERTYPE_IPV4, 17, 67, 4),
)

# Outer MACs where the topology gives none (two gateways on one segment that ignores them).
DEFAULT_UNDERLAY_MACS = ("02:00:00:00:ff:01", "02:00:00:00:ff:02")

TunnelsUp = Collection[tuple[str, str]] | None  # (from gateway, to gateway); None: all

# What a switch does with a VM's frames (Planner.forwarding), compactly:
# (FORWARD, port), (TO_TUNNEL, tunnel id), (TO_CPU,), (FLOOD, group, copies), a copy
# (instance, port): out of a port (instance 0), or into the tunnel of that id.
FORWARD, TO_TUNNEL, TO_CPU, FLOOD = 0, 1, 2, 3
Copy = tuple[int, int]
Fwd = tuple[int, ...] | tuple[int, int, tuple[Copy, ...]]


class PlanError(MobilityError, ValueError):
    """The wanted state cannot be built: no path, no gateway for a site."""


@dataclass(frozen=True, slots=True)
class PlacedVM:
    vnet: int
    mac: int
    ip: int | None
    at: PortRef


@dataclass(frozen=True, slots=True)
class InFlight:
    """An announced migration under way: the VM's next location, and the multicast
    group id its frames use on switches that send them to both locations."""

    to: PortRef
    group: int


@dataclass(frozen=True, slots=True)
class UnderlayPeer:
    """How a gateway reaches another site's gateway: the outer frame's MACs."""

    src_mac: str
    dst_mac: str


class Planner:
    def __init__(self, topology: Topology,
                 underlay_peer: Callable[[str, str], UnderlayPeer] | None = None) -> None:
        self.topo = topology
        self._ports: dict[tuple[str, str], int] = {}
        for link in topology.links:
            self._ports[link.a.switch, link.b.switch] = link.a.port
            self._ports[link.b.switch, link.a.switch] = link.b.port
        self.paths = SwitchPaths(topology.switches, topology.links)
        self.next_hops: NextHops = self.paths.next_hops
        self.underlay_peer = underlay_peer or self._underlay_peer
        self._gateways = {}
        for site in topology.sites:
            gws = [s.name for s in topology.switches_of_site(site) if s.underlay]
            if gws:
                self._gateways[site] = sorted(gws)[0]
        # (FORWARD, port) toward a switch from every switch of its site that reaches it,
        # by destination switch: what most of a move's forwarding is (kept until the
        # paths change)
        self._trees: dict[str, dict[str, Fwd]] = {}
        self.order = MoveOrder(topology, self.next_hops, self._gateways)   # make-before-break
        self._site = {name: sw.site for name, sw in topology.switches.items()}
        self._one_site = len(set(self._site.values())) <= 1
        self._gateway_macs = {v.id: to_int(v.gateway_mac) for v in topology.vnets.values()
                              if v.gateway_mac}
        self._tunnel_ids = {
            (a, b): i + 1
            for i, (a, b) in enumerate(
                (a, b) for a in sorted(self._gateways.values())
                for b in sorted(self._gateways.values()) if a != b)
        }

    def _underlay_peer(self, src_gateway: str, dst_gateway: str) -> UnderlayPeer:
        """The outer frame's MACs from the topology: the gateway's own underlay MAC, and its
        next hop's (a router), else the far gateway's (one segment)."""
        here = self.topo.switches[src_gateway].underlay
        there = self.topo.switches[dst_gateway].underlay
        return UnderlayPeer(
            (here and here.mac) or DEFAULT_UNDERLAY_MACS[0],
            (here and here.next_hop_mac) or (there and there.mac) or DEFAULT_UNDERLAY_MACS[1])

    @property
    def links_down(self) -> frozenset[Link]:
        return self.paths.down

    def set_links_down(self, down: Iterable[Link]) -> dict[str, dict[str, str]] | None:
        """Paths avoid these links from now on. None when that changes nothing, else the
        next hops, as they were, toward each destination whose tree changed."""
        new = frozenset(down)
        if new == self.paths.down:
            return None
        self.order.clear()
        self._trees.clear()
        return self.paths.set_down(new)

    def fabric_ports(self, switch: str) -> list[int]:
        return sorted(p for (a, _), p in self._ports.items() if a == switch)

    def gateway(self, site: str) -> str:
        gw = self._gateways.get(site)
        if gw is None:
            raise PlanError(f"site {site} has no switch with an underlay address")
        return gw

    def tunnel_id(self, src_gateway: str, dst_gateway: str) -> int:
        return self._tunnel_ids[src_gateway, dst_gateway]

    def path(self, src: str, dst: str, next_hops: NextHops | None = None
             ) -> list[str] | None:
        """The switches from src to dst, both included, or None when there is no path."""
        if src == dst:
            return [src]
        hops = (next_hops or self.next_hops)(dst)
        out, cur = [src], src
        while cur != dst:
            nxt = hops.get(cur)
            if nxt is None or len(out) > len(self.topo.switches):
                return None
            out.append(nxt)
            cur = nxt
        return out

    def tunnels(self) -> dict[tuple[str, str], int]:
        return dict(self._tunnel_ids)

    @staticmethod
    def tunnel_is_up(up: TunnelsUp, src_gateway: str, dst_gateway: str) -> bool:
        return up is None or (src_gateway, dst_gateway) in up

    def tunnel_between(self, here: str, there: str) -> tuple[str, str] | None:
        """(gateway of `here`'s site, gateway of `there`'s site), switches both; None when
        the two are in one site."""
        a, b = self.topo.switches[here].site, self.topo.switches[there].site
        return None if a == b else (self.gateway(a), self.gateway(b))

    def base(self, switch: str, up: TunnelsUp = None) -> list[Entity]:
        """What a switch holds whatever the VMs do: ports, punts, termination, tunnels.
        (my_station, where a virtual network is routed, follows its hosts.)"""
        sw = self.topo.switches[switch]
        out: list[Entity] = [
            TableEntry("punt", {"ether_type": et, "ip_proto": proto, "l4_dst_port": port},
                       "punt.to_cpu", {"reason": reason})
            for et, proto, port, reason in PUNTS
        ]
        for port in self.fabric_ports(switch):
            out.append(TableEntry("ingress_port", {"ingress_port": port},
                                  "ingress_port.set_fabric"))
            out.append(TableEntry("egress_vlan", {"egress_port": port},
                                  "egress_vlan.push_vnet_tag"))
        if sw.underlay:
            out.append(TableEntry("ingress_port", {"ingress_port": sw.underlay.port},
                                  "ingress_port.set_underlay"))
            out.append(TableEntry("gre_termination", {"ipv4_dst": sw.underlay.ip},
                                  "gre_termination.terminate"))
            # The underlay's next hop to every other gateway is kept whatever the
            # tunnels do: a tunnel coming up is then one entry (and on the OVS target
            # no route or neighbour to make first, in the move's critical path).
            for (a, b), tid in self._tunnel_ids.items():
                if a != switch:
                    continue
                far = self.topo.switches[b]
                assert far.underlay is not None
                peer = self.underlay_peer(a, b)
                out.append(TableEntry("underlay_next_hop", {"ipv4_dst": far.underlay.ip},
                                      "underlay_next_hop.set_next_hop",
                                      {"port": sw.underlay.port, "src_mac": peer.src_mac,
                                       "dst_mac": peer.dst_mac}))
                if self.tunnel_is_up(up, a, b):
                    out.append(TableEntry("tunnel_encap", {"tunnel_id": tid},
                                          "tunnel_encap.encap_gre",
                                          {"src_addr": sw.underlay.ip,
                                           "dst_addr": far.underlay.ip}))
        return out

    def gateway_mac(self, vnet: int) -> int | None:
        """The distributed gateway's MAC of a virtual network (None: it is not routed)."""
        return self._gateway_macs.get(vnet)

    def my_station(self, vnet: int) -> TableEntry | None:
        """Where a host of `vnet` sends, its frames to the gateway MAC are routed."""
        gw = self._gateway_macs.get(vnet)
        return None if gw is None else TableEntry.of_ints(
            "my_station", {"vnet_id": vnet, "eth_dst": gw}, "my_station.set_routable", {})

    def _hop(self, switch: str, dest: str, hops: NextHops | None = None) -> int | None:
        nxt = (hops or self.next_hops)(dest).get(switch)
        return None if nxt is None else self._ports[switch, nxt]

    def forwarding(self, switches: Iterable[str], at: PortRef, flight: InFlight | None = None,
                   up: TunnelsUp = None, hops: NextHops | None = None
                   ) -> dict[str, Fwd]:
        """What each of `switches` does with a frame for a host at `at` (in flight to
        `flight.to`): a compact value, compared before any entity is made (a move of one
        VM among 100,000 costs what its own switches cost). Switches cut off from it by
        links down are left out (its frames miss there and are dropped, as they would be
        anyway). Frames of a host in flight follow the tree toward the old location as
        usual; the switches on the tree's path between the new and the old location
        send them both ways along it, across sites through the gateways' tunnel
        (`both_ways`)."""
        there = self._site[at.switch]
        local = self._tree_ports(at.switch, hops)
        hops = hops or self.next_hops
        both: dict[str, Fwd] = {}
        if flight is not None:
            both = {sw: (FLOOD, flight.group, copies)
                    for sw, copies in self._copies(at, flight.to, up, hops).items()}
        if self._one_site and isinstance(switches, AbstractSet):
            # A move's hot path (a host's reach, on one site): the kept tree, its own
            # switch, and the both-ways switches of a flight over them.
            out = {sw: fwd for sw in switches if (fwd := local.get(sw)) is not None}
            if at.switch in switches:
                out[at.switch] = (FORWARD, at.port)
            out.update((sw, fwd) for sw, fwd in both.items() if sw in switches)
            return out
        out = {}
        for sw in switches:
            if both and sw in both:
                out[sw] = both[sw]
            elif (fwd := local.get(sw)) is not None:
                out[sw] = fwd
            elif sw == at.switch:
                out[sw] = (FORWARD, at.port)
            elif (here := self._site[sw]) != there:
                gw_here, gw_there = self.gateway(here), self.gateway(there)
                if sw == gw_here:
                    out[sw] = ((TO_TUNNEL, self.tunnel_id(gw_here, gw_there))
                               if self.tunnel_is_up(up, gw_here, gw_there) else (TO_CPU,))
                else:
                    port = self._hop(sw, gw_here, hops)
                    if port is not None:
                        out[sw] = (FORWARD, port)
        return out

    def _tree_ports(self, dest: str, hops: NextHops | None = None) -> dict[str, Fwd]:
        """(FORWARD, port toward `dest`) of every other switch of its site that reaches
        it: made once per destination and kept until the paths change (`hops` given:
        made from those, not kept)."""
        cached = self._trees.get(dest) if hops is None else None
        if cached is not None:
            return cached
        there = self._site[dest]
        out: dict[str, Fwd] = {sw: (FORWARD, self._ports[sw, nxt])
                               for sw, nxt in (hops or self.next_hops)(dest).items()
                               if sw != dest and self._site[sw] == there}
        if hops is None:
            self._trees[dest] = out
        return out

    def toward(self, switch: str, vm: PlacedVM, up: TunnelsUp = None) -> TableEntry | None:
        """The bridging entry of `switch` for one VM: local port, next hop, or tunnel;
        None when links down have cut the switch off from it (its frames then miss
        and are dropped, as they would be anyway)."""
        fwd = self.forwarding([switch], vm.at, None, up).get(switch)
        return None if fwd is None else bridging_entry(vm.vnet, vm.mac, fwd)

    def both_ways(self, switch: str, vm: PlacedVM, flight: InFlight, up: TunnelsUp = None
                  ) -> list[Entity]:
        """The bridging entry of `switch` for a VM in flight. Frames follow the tree
        toward the old location as usual; the switches on the tree's path between the
        new and the old location send them both ways along it. Egress never floods a
        frame back out of its ingress port, so a copy travelling along the path keeps
        its direction, and every frame reaches each location once. Across sites the
        path is the old site's from its gateway to the old location and the new site's
        from the new location to its gateway, the gateways copying frames into the
        tunnel between them; a third site's gateway copies them into both sites'
        tunnels. A frame out of a tunnel never goes into another (mobility.p4), so one
        that crossed once is not sent on."""
        fwd = self.forwarding([switch], vm.at, flight, up).get(switch)
        return [] if fwd is None else bridging_entities(vm.vnet, vm.mac, fwd)

    def _toward(self, switch: str, vm: PlacedVM, up: TunnelsUp) -> list[Entity]:
        entry = self.toward(switch, vm, up)
        return [] if entry is None else [entry]

    def _copies(self, old: PortRef, new: PortRef, up: TunnelsUp, hops: NextHops
                ) -> dict[str, tuple[Copy, ...]]:
        """The switches that copy the frames of a host in flight from `old` to `new`, and
        where to (both_ways); the others forward them toward `old` as usual."""
        out: dict[str, tuple[Copy, ...]] = {}
        if old == new:
            return out
        a, b = self.topo.switches[old.switch].site, self.topo.switches[new.switch].site
        if a == b:
            self._along(out, self.path(new.switch, old.switch, hops), (0, new.port),
                        (0, old.port))
            return out
        gw_a, gw_b = self.gateway(a), self.gateway(b)
        into_b, into_a = self._into(gw_a, gw_b, up), self._into(gw_b, gw_a, up)
        if into_b is not None:
            self._along(out, self.path(gw_a, old.switch, hops), into_b, (0, old.port))
        if into_a is not None:
            self._along(out, self.path(new.switch, gw_b, hops), (0, new.port), into_a)
        for site, gw in self._gateways.items():
            if site not in (a, b):
                to_a, to_b = self._into(gw, gw_a, up), self._into(gw, gw_b, up)
                if to_a is not None and to_b is not None:
                    out[gw] = tuple(sorted({to_a, to_b}))
        return out

    def _along(self, out: dict[str, tuple[Copy, ...]], path: list[str] | None, first: Copy,
               last: Copy) -> None:
        """The copies of each switch on `path` (its first end leaves by `first`, its last by
        `last`): one each way along it."""
        if path is None:
            return
        for i, sw in enumerate(path):
            copies = {last if i == len(path) - 1 else (0, self._ports[sw, path[i + 1]]),
                      first if i == 0 else (0, self._ports[sw, path[i - 1]])}
            out[sw] = tuple(sorted(copies))

    def _into(self, src_gateway: str, dst_gateway: str, up: TunnelsUp) -> Copy | None:
        """The copy into the tunnel between two gateways (out of the first's underlay
        port), None while that tunnel is down."""
        if not self.tunnel_is_up(up, src_gateway, dst_gateway):
            return None
        underlay = self.topo.switches[src_gateway].underlay
        assert underlay is not None
        return self.tunnel_id(src_gateway, dst_gateway), underlay.port

    def vm_entries(self, switch: str, vm: PlacedVM, flight: InFlight | None = None,
                   up: TunnelsUp = None) -> list[Entity]:
        out = self.both_ways(switch, vm, flight, up) if flight else self._toward(switch, vm, up)
        if switch == vm.at.switch:
            out.append(TableEntry("ingress_port", {"ingress_port": vm.at.port},
                                  "ingress_port.set_access", {"vnet_id": vm.vnet}))
        gw = self.gateway_mac(vm.vnet)
        if gw is not None and vm.ip is not None:
            out.append(TableEntry("routing_v4", {"vnet_id": vm.vnet, "ipv4_dst": vm.ip},
                                  "routing_v4.route", {"src_mac": gw, "dst_mac": vm.mac}))
        return out

    def ready_port(self, at: PortRef, vnet: int) -> TableEntry:
        """The access port of a VM announced to arrive at `at`."""
        return TableEntry("ingress_port", {"ingress_port": at.port}, "ingress_port.set_access",
                          {"vnet_id": vnet})

    def wanted(self, vms: Iterable[PlacedVM],
               provisioned: Mapping[PortRef, int] | None = None,
               in_flight: Mapping[tuple[int, int], InFlight] | None = None,
               up: TunnelsUp = None) -> dict[str, list[Entity]]:
        """Every switch's full wanted state; `provisioned` access ports (port -> virtual
        network) are ready for a VM announced to arrive there; VMs `in_flight`
        ((vnet, mac) -> where to) are delivered at both locations."""
        vms = list(vms)
        flights = in_flight or {}
        out: dict[str, list[Entity]] = {}
        stations = [e for v in sorted(self._gateway_macs) if (e := self.my_station(v))]
        for switch in self.topo.switches:
            entities = self.base(switch, up) + list(stations)
            for vm in vms:
                entities += self.vm_entries(switch, vm, flights.get((vm.vnet, vm.mac)), up)
            for at, vnet in (provisioned or {}).items():
                if at.switch == switch:
                    entities.append(self.ready_port(at, vnet))
            out[switch] = _dedup(entities)
        return out


def bridging_entities(vnet: int, mac: int, fwd: Fwd) -> list[Entity]:
    """The entities of one forwarding decision: the bridging entry, and a flood's group."""
    entry = bridging_entry(vnet, mac, fwd)
    if fwd[0] != FLOOD:
        return [entry]
    copies = fwd[2]
    assert isinstance(copies, tuple)
    return [entry, MulticastGroupEntry(fwd[1], tuple(Replica(port, instance)
                                                     for instance, port in copies))]


def bridging_entry(vnet: int, mac: int, fwd: Fwd) -> TableEntry:
    kind = fwd[0]
    match = {"vnet_id": vnet, "eth_dst": mac}
    if kind == FORWARD:
        return TableEntry.of_ints("bridging", match, "bridging.forward", {"port": fwd[1]})
    if kind == TO_TUNNEL:
        return TableEntry.of_ints("bridging", match, "bridging.to_tunnel",
                                  {"tunnel_id": fwd[1]})
    if kind == FLOOD:
        return TableEntry.of_ints("bridging", match, "bridging.flood", {"group": fwd[1]})
    return TableEntry.of_ints("bridging", match, "bridging.to_cpu", {})


def _dedup(entities: list[Entity]) -> list[Entity]:
    seen: dict[object, Entity] = {}
    for e in entities:
        seen.setdefault(e.key(), e)
    return list(seen.values())


def placed(vnet: int, mac: str | int, ip: str | int | None, at: PortRef) -> PlacedVM:
    return PlacedVM(vnet, to_int(mac), None if ip is None else to_int(ip), at)
