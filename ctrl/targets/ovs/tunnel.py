"""What OVS's native tunneling needs beyond flows for a bridge's GRE entries. Pure.

OVS pushes GRE for a flow-based GRE port only when it can route the outer
packet: the source must be a local address of the namespace ovs-vswitchd runs
in, the destination needs a route (`ovs/route`) out of the underlay bridge, and
the route's next hop a tunnel neighbour (`tnl/neigh`). It pops GRE only for an
address of the port the frame is sent to. So, from the entries:

- addresses: every gre_termination address and every tunnel_encap source, each a
  /32 on the underlay bridge's LOCAL port (a /32 adds no route to the namespace);
- routes: each tunnel_encap destination, and each underlay_next_hop destination
  while the bridge has an address, /32 via the underlay bridge with one of our own
  addresses as gateway (OVS 3.1 takes a route's source from an address of its
  device that covers the destination or the gateway, and a /32 covers only
  itself); the tunnel's own source is the flow's tun_src all the same. A next hop
  is the underlay's routing, which outlives the tunnels over it: a tunnel that
  comes up again then needs no route, no neighbour, only its flows;
- neighbours: those gateways, at the underlay bridge's MAC. underlay_next_hop
  rewrites both MACs of the outer frame afterwards, so the MAC is only a token.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ctrl.p4rt.entity import TableEntry
from ctrl.p4rt.proto import rpc_code
from ctrl.targets.ovs.pipeline import GRE_TABLES
from ctrl.targets.ovs.validate import Rejected

# Addresses the kernel will not hold as a unicast address of a port, or that the
# termination flows use to carry the ingress port (0.0.x.y).
_UNUSABLE = tuple(ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4"))


@dataclass(frozen=True, slots=True)
class UnderlayState:
    addresses: frozenset[int] = frozenset()
    routes: Mapping[int, int] = field(default_factory=dict)  # destination -> gateway

    @property
    def neighbours(self) -> frozenset[int]:
        return frozenset(self.routes.values())


def underlay_state(entries: Iterable[TableEntry]) -> UnderlayState:
    addresses: set[int] = set()
    routes: dict[int, int] = {}
    next_hops: set[int] = set()
    for e in entries:
        if e.table == "gre_termination":
            addresses.add(int(e.match["ipv4_dst"]))
        elif (e.table == "tunnel_encap" and e.action == "tunnel_encap.encap_gre"
              and int(e.match["tunnel_id"]) != 0):
            src, dst = int(e.params["src_addr"]), int(e.params["dst_addr"])
            addresses.add(src)
            routes[dst] = min(routes.get(dst, src), src)  # any of ours; the same each time
        elif e.table == "underlay_next_hop" and e.action == "underlay_next_hop.set_next_hop":
            next_hops.add(int(e.match["ipv4_dst"]))
    if addresses:
        for dst in next_hops - set(routes):
            routes[dst] = min(addresses)
    return UnderlayState(frozenset(addresses), routes)


def check_entry(e: TableEntry, has_gre: bool) -> None:
    """Refuse what this target cannot do with a GRE entry (others pass)."""
    if e.table not in GRE_TABLES:
        return
    if not has_gre:
        raise Rejected(rpc_code.UNIMPLEMENTED,
                       f"{e.table}: this bridge has no GRE port (one per ovs-vswitchd)")
    addresses = []
    if e.table == "gre_termination":
        addresses.append(("ipv4_dst", int(e.match["ipv4_dst"])))
    elif e.action == "tunnel_encap.encap_gre":
        addresses += [(k, int(e.params[k])) for k in ("src_addr", "dst_addr")]
    for name, value in addresses:
        ip = ipaddress.IPv4Address(value)
        if any(ip in net for net in _UNUSABLE):
            raise Rejected(rpc_code.UNIMPLEMENTED,
                           f"{e.table}.{name}: {ip} cannot be an underlay address here")
