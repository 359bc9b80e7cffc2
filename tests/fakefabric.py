"""Where a frame goes through a fabric of switches holding mobility.p4 entries.

A model of the pipeline at the level the planner cares about (faucet's fake
flow table is the example): classify the ingress port, terminate GRE, route on
the gateway MAC, bridge, encapsulate, follow links and tunnels, until the frame
leaves on an access port or is dropped. The packet tests pin the same
behaviour on the real targets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ctrl.hosts import Location
from ctrl.p4entity import Entity, TableEntry
from ctrl.p4values import to_int
from ctrl.topology import Topology


@dataclass(frozen=True, slots=True)
class Frame:
    dst_mac: int
    dst_ip: int | None = None


class FakeFabric:
    def __init__(self, topology: Topology, state: Mapping[str, Sequence[Entity]]) -> None:
        self.topo = topology
        self.tables: dict[str, dict[tuple[str, tuple[tuple[str, int], ...]], TableEntry]] = {}
        for sw, entities in state.items():
            t = self.tables.setdefault(sw, {})
            for e in entities:
                if isinstance(e, TableEntry):
                    t[e.table, tuple(sorted((k, to_int(v)) for k, v in e.match.items()))] = e
        self.peer: dict[Location, Location] = {}
        for link in topology.links:
            a, b = Location(link.a.switch, link.a.port), Location(link.b.switch, link.b.port)
            self.peer[a], self.peer[b] = b, a
        self.underlay = {s.underlay.ip: s.name for s in topology.switches.values() if s.underlay}

    def lookup(self, sw: str, table: str, **match: int | str) -> TableEntry | None:
        key = tuple(sorted((k, to_int(v)) for k, v in match.items()))
        return self.tables.get(sw, {}).get((table, key))

    def send(self, at: Location, frame: Frame, max_hops: int = 64) -> Location | None:
        """The access port where the frame leaves the fabric, or None if it is dropped."""
        port_entry = self.lookup(at.switch, "ingress_port", ingress_port=at.port)
        if port_entry is None or port_entry.action != "ingress_port.set_access":
            return None
        vnet = to_int(port_entry.params["vnet_id"])
        sw, mac = at.switch, frame.dst_mac
        for _ in range(max_hops):
            st = self.lookup(sw, "my_station", vnet_id=vnet, eth_dst=mac)
            if st is not None and frame.dst_ip is not None:
                route = self.lookup(sw, "routing_v4", vnet_id=vnet, ipv4_dst=frame.dst_ip)
                if route is None:
                    return None
                mac = to_int(route.params["dst_mac"])
            br = self.lookup(sw, "bridging", vnet_id=vnet, eth_dst=mac)
            if br is None or br.action == "bridging.drop":
                return None
            if br.action == "bridging.forward":
                out = Location(sw, to_int(br.params["port"]))
                if out not in self.peer:
                    return out  # an access port: delivered
                nxt = self.peer[out]
                kind = self.lookup(nxt.switch, "ingress_port", ingress_port=nxt.port)
                if kind is None or kind.action != "ingress_port.set_fabric":
                    return None
                sw = nxt.switch
                continue
            if br.action == "bridging.to_tunnel":
                tun = self.lookup(sw, "tunnel_encap", tunnel_id=to_int(br.params["tunnel_id"]))
                if tun is None:
                    return None
                dst_ip = to_int(tun.params["dst_addr"])
                nh = self.lookup(sw, "underlay_next_hop", ipv4_dst=dst_ip)
                far = self.underlay.get(str(_ip(dst_ip)))
                if nh is None or far is None:
                    return None
                if self.lookup(far, "gre_termination", ipv4_dst=dst_ip) is None:
                    return None
                sw = far
                continue
            return None
        raise AssertionError(f"forwarding loop: {at} -> {frame}")


def _ip(value: int) -> str:
    import ipaddress

    return str(ipaddress.IPv4Address(value))
