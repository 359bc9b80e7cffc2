"""One helper per table of mobility.p4, in the ptf manner; each writes one entry."""

from __future__ import annotations

from ctrl.p4rt.entity import MulticastGroupEntry, Replica, TableEntry, insert
from tests.packet.syncswitch import SyncSwitch


def _add(sw: SyncSwitch, entry: TableEntry) -> TableEntry:
    sw.write([insert(entry)])
    return entry


def add_access_port(sw: SyncSwitch, port: int, vnet: int) -> TableEntry:
    return _add(sw, TableEntry("ingress_port", {"ingress_port": port},
                               "ingress_port.set_access", {"vnet_id": vnet}))


def add_fabric_port(sw: SyncSwitch, port: int) -> TableEntry:
    _add(sw, TableEntry("egress_vlan", {"egress_port": port}, "egress_vlan.push_vnet_tag"))
    return _add(sw, TableEntry("ingress_port", {"ingress_port": port},
                               "ingress_port.set_fabric"))


def add_underlay_port(sw: SyncSwitch, port: int) -> TableEntry:
    return _add(sw, TableEntry("ingress_port", {"ingress_port": port},
                               "ingress_port.set_underlay"))


def add_gre_termination(sw: SyncSwitch, underlay_ip: str) -> TableEntry:
    return _add(sw, TableEntry("gre_termination", {"ipv4_dst": underlay_ip},
                               "gre_termination.terminate"))


def add_punt(sw: SyncSwitch, ether_type: int, reason: int, ip_proto: int = 0,
             l4_dst_port: int = 0) -> TableEntry:
    return _add(sw, TableEntry("punt", {"ether_type": ether_type, "ip_proto": ip_proto,
                                        "l4_dst_port": l4_dst_port},
                               "punt.to_cpu", {"reason": reason}))


def add_my_station(sw: SyncSwitch, vnet: int, gateway_mac: str) -> TableEntry:
    return _add(sw, TableEntry("my_station", {"vnet_id": vnet, "eth_dst": gateway_mac},
                               "my_station.set_routable"))


def add_route_v4(sw: SyncSwitch, vnet: int, ip: str, src_mac: str, dst_mac: str) -> TableEntry:
    return _add(sw, TableEntry("routing_v4", {"vnet_id": vnet, "ipv4_dst": ip},
                               "routing_v4.route", {"src_mac": src_mac, "dst_mac": dst_mac}))


def add_bridging(sw: SyncSwitch, vnet: int, mac: str, action: str,
                 **params: int) -> TableEntry:
    return _add(sw, TableEntry("bridging", {"vnet_id": vnet, "eth_dst": mac},
                               f"bridging.{action}", params))


def add_tunnel(sw: SyncSwitch, tunnel_id: int, src_ip: str, dst_ip: str) -> TableEntry:
    return _add(sw, TableEntry("tunnel_encap", {"tunnel_id": tunnel_id},
                               "tunnel_encap.encap_gre",
                               {"src_addr": src_ip, "dst_addr": dst_ip}))


def add_underlay_next_hop(sw: SyncSwitch, ip: str, port: int, src_mac: str,
                          dst_mac: str) -> TableEntry:
    return _add(sw, TableEntry("underlay_next_hop", {"ipv4_dst": ip},
                               "underlay_next_hop.set_next_hop",
                               {"port": port, "src_mac": src_mac, "dst_mac": dst_mac}))


def add_multicast_group(sw: SyncSwitch, group: int, ports: list[int],
                        tunnels: tuple[tuple[int, int], ...] = ()) -> MulticastGroupEntry:
    """Copies to `ports`, and into GRE tunnels: (port, tunnel id) replicas."""
    entry = MulticastGroupEntry(group, tuple(Replica(p) for p in ports)
                                + tuple(Replica(p, tid) for p, tid in tunnels))
    sw.write([insert(entry)])
    return entry
