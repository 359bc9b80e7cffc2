"""Where a frame goes through a fabric of switches holding mobility.p4 entries.

A model of the pipeline at the level the planner cares about (faucet's fake
flow table is the example): classify the ingress port, terminate GRE, route on
the gateway MAC, bridge, encapsulate, follow links and tunnels (flooded copies
into tunnels too, never from one tunnel into another), until the frame leaves on
an access port or is dropped. The packet tests pin the same behaviour on the real
targets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ctrl.control.topology import PortRef, Topology
from ctrl.p4rt.entity import Entity, Replica, TableEntry
from ctrl.p4rt.values import to_int


@dataclass(frozen=True, slots=True)
class Frame:
    dst_mac: int
    dst_ip: int | None = None


class FakeFabric:
    def __init__(self, topology: Topology, state: Mapping[str, Sequence[Entity]]) -> None:
        self.topo = topology
        self.tables: dict[str, dict[tuple[str, tuple[tuple[str, int], ...]], TableEntry]] = {}
        self.groups: dict[str, dict[int, tuple[Replica, ...]]] = {}
        for sw, entities in state.items():
            t = self.tables.setdefault(sw, {})
            for e in entities:
                if isinstance(e, TableEntry):
                    t[e.table, tuple(sorted((k, to_int(v)) for k, v in e.match.items()))] = e
                else:
                    self.groups.setdefault(sw, {})[e.group_id] = e.replicas
        self.peer: dict[PortRef, PortRef] = {}
        for link in topology.links:
            a, b = PortRef(link.a.switch, link.a.port), PortRef(link.b.switch, link.b.port)
            self.peer[a], self.peer[b] = b, a
        self.underlay = {s.underlay.ip: s.name for s in topology.switches.values() if s.underlay}

    def lookup(self, sw: str, table: str, **match: int | str) -> TableEntry | None:
        key = tuple(sorted((k, to_int(v)) for k, v in match.items()))
        return self.tables.get(sw, {}).get((table, key))

    def send(self, at: PortRef, frame: Frame) -> PortRef | None:
        """The access port where the frame leaves the fabric, or None if it is dropped."""
        got = self.deliver(at, frame)
        assert len(got) <= 1, f"{frame} entered at {at} leaves at {got}"
        return got[0] if got else None

    def deliver(self, at: PortRef, frame: Frame, max_hops: int = 64) -> list[PortRef]:
        """Every access port where a copy of the frame leaves the fabric."""
        port_entry = self.lookup(at.switch, "ingress_port", ingress_port=at.port)
        if port_entry is None or port_entry.action != "ingress_port.set_access":
            return []
        out: list[PortRef] = []
        self._walk(at, to_int(port_entry.params["vnet_id"]), frame.dst_mac, frame.dst_ip, out,
                   max_hops, False)
        return sorted(out, key=lambda x: (x.switch, x.port))

    def _walk(self, at: PortRef, vnet: int, mac: int, dst_ip: int | None,
              out: list[PortRef], hops: int, terminated: bool) -> None:
        """The frame at a switch's port (`terminated`: out of a tunnel there)."""
        if hops == 0:
            raise AssertionError(f"forwarding loop: {at} -> {mac:012x}")
        sw = at.switch
        st = self.lookup(sw, "my_station", vnet_id=vnet, eth_dst=mac)
        if st is not None and dst_ip is not None:
            route = self.lookup(sw, "routing_v4", vnet_id=vnet, ipv4_dst=dst_ip)
            if route is None:
                return
            mac = to_int(route.params["dst_mac"])
        br = self.lookup(sw, "bridging", vnet_id=vnet, eth_dst=mac)
        if br is None:
            return
        if br.action == "bridging.forward":
            ports = [to_int(br.params["port"])]
        elif br.action == "bridging.flood":
            replicas = self.groups.get(sw, {}).get(to_int(br.params["group"]), ())
            # egress never sends a flooded copy back out of its ingress port, nor a frame
            # out of a tunnel into another
            ports = [r.port for r in replicas if not r.instance and r.port != at.port]
            for r in replicas:
                if r.instance and not terminated:
                    self._tunnel(sw, r.instance, vnet, mac, dst_ip, out, hops)
        elif br.action == "bridging.to_tunnel":
            self._tunnel(sw, to_int(br.params["tunnel_id"]), vnet, mac, dst_ip, out, hops)
            return
        else:
            return
        for port in ports:
            leave = PortRef(sw, port)
            if leave not in self.peer:
                out.append(leave)  # an access port: delivered
                continue
            nxt = self.peer[leave]
            kind = self.lookup(nxt.switch, "ingress_port", ingress_port=nxt.port)
            if kind is not None and kind.action == "ingress_port.set_fabric":
                self._walk(nxt, vnet, mac, dst_ip, out, hops - 1, False)

    def _tunnel(self, sw: str, tunnel_id: int, vnet: int, mac: int, dst_ip: int | None,
                out: list[PortRef], hops: int) -> None:
        tun = self.lookup(sw, "tunnel_encap", tunnel_id=tunnel_id)
        if tun is None:
            return
        dst_ip_outer = to_int(tun.params["dst_addr"])
        nh = self.lookup(sw, "underlay_next_hop", ipv4_dst=dst_ip_outer)
        far = self.underlay.get(str(_ip(dst_ip_outer)))
        if nh is None or far is None:
            return
        if self.lookup(far, "gre_termination", ipv4_dst=dst_ip_outer) is None:
            return
        far_sw = self.topo.switches[far]
        assert far_sw.underlay is not None
        self._walk(PortRef(far, far_sw.underlay.port), vnet, mac, dst_ip, out, hops - 1, True)


def _ip(value: int) -> str:
    import ipaddress

    return str(ipaddress.IPv4Address(value))
