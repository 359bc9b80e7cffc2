"""Packet tests of mobility.p4: frames in on ports, exact frames expected out, nothing else.

Run against every target in conftest.TARGETS; each is skipped with its reason
where it cannot run here.
"""

from __future__ import annotations

import pytest
from scapy.contrib.lldp import (
    LLDPDU,
    LLDPDUChassisID,
    LLDPDUEndOfLLDPDU,
    LLDPDUPortID,
    LLDPDUTimeToLive,
)
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import ARP, GRE, Dot1Q, Ether

from ctrl.p4rt.entity import CounterData, PacketOut, TableEntry, delete, insert
from tests.packet import tables as t
from tests.packet.targets import Target

pytestmark = pytest.mark.root

VM_A, VM_B, VM_C = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c"
GW_MAC = "02:00:00:00:00:01"
SW_UNDERLAY_MAC, PEER_UNDERLAY_MAC = "02:00:00:00:01:01", "02:00:00:00:01:02"
SW_UNDERLAY_IP, PEER_UNDERLAY_IP = "192.0.2.1", "192.0.2.2"
THIRD_UNDERLAY_MAC, THIRD_UNDERLAY_IP = "02:00:00:00:01:03", "192.0.2.3"
VNET, OTHER_VNET = 10, 20
BROADCAST = "ff:ff:ff:ff:ff:ff"

REASON_ARP, REASON_RARP, REASON_LLDP, REASON_DHCP, REASON_BRIDGING = 1, 2, 3, 4, 5


def tcp_frame(dst: str = VM_B, src: str = VM_A, ip_dst: str = "10.0.1.2",
              ip_src: str = "10.0.1.1", ttl: int = 64) -> Ether:
    return (Ether(dst=dst, src=src) / IP(src=ip_src, dst=ip_dst, ttl=ttl, id=7)
            / TCP(sport=1234, dport=80, flags="S") / b"mobility")


def gre_frame(inner: Ether, key: int = VNET, dst_ip: str = SW_UNDERLAY_IP,
              src_ip: str = PEER_UNDERLAY_IP) -> Ether:
    return (Ether(dst=SW_UNDERLAY_MAC, src=PEER_UNDERLAY_MAC)
            / IP(src=src_ip, dst=dst_ip, ttl=64, id=0, flags=0, proto=47)
            / GRE(key_present=1, key=key, proto=0x6558) / inner)


def encapsulated(inner: Ether, key: int = VNET, dst_mac: str = PEER_UNDERLAY_MAC,
                 dst_ip: str = PEER_UNDERLAY_IP) -> Ether:
    """What tunnel 7 / 3 of these tests puts around `inner` toward the peer site (to
    another site with `dst_mac` and `dst_ip`)."""
    return (Ether(dst=dst_mac, src=SW_UNDERLAY_MAC)
            / IP(src=SW_UNDERLAY_IP, dst=dst_ip, ttl=64, id=0, flags=0, proto=47)
            / GRE(key_present=1, key=key, proto=0x6558) / inner)


def b(pkt: Ether) -> bytes:
    return bytes(pkt)


def two_access_ports(sw: Target) -> None:
    t.add_access_port(sw.switch, 1, VNET)
    t.add_access_port(sw.switch, 2, VNET)


def test_l2_to_local_port(tgt: Target) -> None:
    two_access_ports(tgt)
    t.add_bridging(tgt.switch, VNET, VM_B, "forward", port=2)
    frame = b(tcp_frame())
    tgt.dataplane.send(1, frame)
    tgt.dataplane.verify_packet(frame, 2)
    tgt.dataplane.verify_no_other_packets()


def test_drop_on_bridging_miss(tgt: Target) -> None:
    two_access_ports(tgt)
    tgt.dataplane.send(1, b(tcp_frame(dst=VM_C)))
    tgt.dataplane.verify_no_other_packets()


def test_virtual_networks_are_isolated(tgt: Target) -> None:
    two_access_ports(tgt)
    t.add_access_port(tgt.switch, 3, OTHER_VNET)
    t.add_bridging(tgt.switch, VNET, VM_B, "forward", port=2)
    tgt.dataplane.send(3, b(tcp_frame()))  # same MAC, other virtual network
    tgt.dataplane.verify_no_other_packets()


def test_unconfigured_port_drops(tgt: Target) -> None:
    t.add_bridging(tgt.switch, VNET, VM_B, "forward", port=2)
    tgt.dataplane.send(6, b(tcp_frame()))
    tgt.dataplane.verify_no_other_packets()


def test_fabric_link_carries_vnet_as_vlan_tag(tgt: Target) -> None:
    two_access_ports(tgt)
    t.add_fabric_port(tgt.switch, 4)
    t.add_bridging(tgt.switch, VNET, VM_C, "forward", port=4)
    t.add_bridging(tgt.switch, VNET, VM_B, "forward", port=2)
    # Out to the next hop: tagged with the virtual network.
    plain = tcp_frame(dst=VM_C)
    tgt.dataplane.send(1, b(plain))
    tagged = Ether(dst=VM_C, src=VM_A) / Dot1Q(vlan=VNET) / plain.payload
    tgt.dataplane.verify_packet(b(tagged), 4)
    # In from a fabric link: the tag names the network, and is popped for the VM.
    inner = tcp_frame(src=VM_C)
    tgt.dataplane.send(4, b(Ether(dst=VM_B, src=VM_C) / Dot1Q(vlan=VNET) / inner.payload))
    tgt.dataplane.verify_packet(b(inner), 2)
    # A tag of another network finds no entry.
    tgt.dataplane.send(4, b(Ether(dst=VM_B, src=VM_C) / Dot1Q(vlan=OTHER_VNET) / inner.payload))
    tgt.dataplane.verify_no_other_packets()


@pytest.mark.gre
def test_l2_into_gre_tunnel(tgt: Target) -> None:
    two_access_ports(tgt)
    t.add_bridging(tgt.switch, VNET, VM_C, "to_tunnel", tunnel_id=7)
    t.add_tunnel(tgt.switch, 7, SW_UNDERLAY_IP, PEER_UNDERLAY_IP)
    t.add_underlay_next_hop(tgt.switch, PEER_UNDERLAY_IP, 5, SW_UNDERLAY_MAC, PEER_UNDERLAY_MAC)
    inner = tcp_frame(dst=VM_C)
    tgt.dataplane.send(1, b(inner))
    expected = b(
        Ether(dst=PEER_UNDERLAY_MAC, src=SW_UNDERLAY_MAC, type=0x0800)
        / IP(version=4, ihl=5, tos=0, len=20 + 8 + len(inner), id=0, flags=0, frag=0, ttl=64,
             proto=47, src=SW_UNDERLAY_IP, dst=PEER_UNDERLAY_IP)
        / GRE(chksum_present=0, routing_present=0, key_present=1, seqnum_present=0,
              strict_route_source=0, recursion_control=0, flags=0, version=0, proto=0x6558,
              key=VNET)
        / inner
    )
    tgt.dataplane.verify_packet(expected, 5)
    tgt.dataplane.verify_no_other_packets()


@pytest.mark.gre
def test_arp_into_gre_tunnel_keeps_inner_arp(tgt: Target) -> None:
    two_access_ports(tgt)
    t.add_bridging(tgt.switch, VNET, VM_C, "to_tunnel", tunnel_id=7)
    t.add_tunnel(tgt.switch, 7, SW_UNDERLAY_IP, PEER_UNDERLAY_IP)
    t.add_underlay_next_hop(tgt.switch, PEER_UNDERLAY_IP, 5, SW_UNDERLAY_MAC, PEER_UNDERLAY_MAC)
    inner = Ether(dst=VM_C, src=VM_A) / ARP(op=2, hwsrc=VM_A, psrc="10.0.1.1", hwdst=VM_C,
                                            pdst="10.0.1.3")
    tgt.dataplane.send(1, b(inner))
    tgt.dataplane.verify_packet(b(encapsulated(inner)), 5)
    tgt.dataplane.verify_no_other_packets()


@pytest.mark.gre
def test_gre_termination_delivers_inner_frame(tgt: Target) -> None:
    two_access_ports(tgt)
    t.add_underlay_port(tgt.switch, 5)
    t.add_gre_termination(tgt.switch, SW_UNDERLAY_IP)
    t.add_bridging(tgt.switch, VNET, VM_B, "forward", port=2)
    inner = tcp_frame(src=VM_C)
    tgt.dataplane.send(5, b(gre_frame(inner)))
    tgt.dataplane.verify_packet(b(inner), 2)
    tgt.dataplane.verify_no_other_packets()


@pytest.mark.gre
def test_gre_not_for_this_switch_or_other_key_is_dropped(tgt: Target) -> None:
    two_access_ports(tgt)
    t.add_underlay_port(tgt.switch, 5)
    t.add_gre_termination(tgt.switch, SW_UNDERLAY_IP)
    t.add_bridging(tgt.switch, VNET, VM_B, "forward", port=2)
    inner = tcp_frame(src=VM_C)
    tgt.dataplane.send(5, b(gre_frame(inner, dst_ip="192.0.2.99")))  # not our address
    tgt.dataplane.send(5, b(gre_frame(inner, key=OTHER_VNET)))       # no entry in vnet 20
    tgt.dataplane.send(5, b(gre_frame(inner, key=0x1000 | VNET)))   # key beyond 12 bits
    tgt.dataplane.send(5, b(inner))                                  # plain frame on underlay
    tgt.dataplane.verify_no_other_packets()


@pytest.mark.gre
def test_deleted_gre_entries_take_their_effect_with_them(tgt: Target) -> None:
    two_access_ports(tgt)
    t.add_underlay_port(tgt.switch, 5)
    t.add_bridging(tgt.switch, VNET, VM_C, "to_tunnel", tunnel_id=7)
    t.add_bridging(tgt.switch, VNET, VM_B, "forward", port=2)
    gre_entries = [
        t.add_tunnel(tgt.switch, 7, SW_UNDERLAY_IP, PEER_UNDERLAY_IP),
        t.add_gre_termination(tgt.switch, SW_UNDERLAY_IP),
    ]
    t.add_underlay_next_hop(tgt.switch, PEER_UNDERLAY_IP, 5, SW_UNDERLAY_MAC, PEER_UNDERLAY_MAC)
    out, back = tcp_frame(dst=VM_C), tcp_frame(src=VM_C)

    def both_ways() -> None:
        tgt.dataplane.send(1, b(out))
        tgt.dataplane.verify_packet(b(encapsulated(out)), 5)
        tgt.dataplane.send(5, b(gre_frame(back)))
        tgt.dataplane.verify_packet(b(back), 2)
        tgt.dataplane.verify_no_other_packets()

    both_ways()
    tgt.switch.write([delete(e) for e in gre_entries])
    tgt.dataplane.send(1, b(out))
    tgt.dataplane.send(5, b(gre_frame(back)))
    tgt.dataplane.verify_no_other_packets()
    tgt.switch.write([insert(e) for e in gre_entries])
    both_ways()


def test_host_route_rewrites_macs_and_ttl(tgt: Target) -> None:
    two_access_ports(tgt)
    t.add_my_station(tgt.switch, VNET, GW_MAC)
    t.add_route_v4(tgt.switch, VNET, "10.0.2.5", src_mac=GW_MAC, dst_mac=VM_C)
    t.add_bridging(tgt.switch, VNET, VM_C, "forward", port=3)
    tgt.dataplane.send(1, b(tcp_frame(dst=GW_MAC, ip_dst="10.0.2.5", ttl=64)))
    expected = tcp_frame(dst=VM_C, src=GW_MAC, ip_dst="10.0.2.5", ttl=63)
    tgt.dataplane.verify_packet(b(expected), 3)  # scapy recomputes the checksum
    tgt.dataplane.verify_no_other_packets()


def test_routing_drops_unknown_destination_and_expired_ttl(tgt: Target) -> None:
    two_access_ports(tgt)
    t.add_my_station(tgt.switch, VNET, GW_MAC)
    t.add_route_v4(tgt.switch, VNET, "10.0.2.5", src_mac=GW_MAC, dst_mac=VM_C)
    t.add_bridging(tgt.switch, VNET, VM_C, "forward", port=3)
    t.add_bridging(tgt.switch, VNET, GW_MAC, "forward", port=6)  # must not leak to L2
    tgt.dataplane.send(1, b(tcp_frame(dst=GW_MAC, ip_dst="10.0.9.9")))
    tgt.dataplane.send(1, b(tcp_frame(dst=GW_MAC, ip_dst="10.0.2.5", ttl=1)))
    tgt.dataplane.verify_no_other_packets()


@pytest.mark.gre
def test_routed_frame_into_tunnel(tgt: Target) -> None:
    two_access_ports(tgt)
    t.add_my_station(tgt.switch, VNET, GW_MAC)
    t.add_route_v4(tgt.switch, VNET, "10.0.2.5", src_mac=GW_MAC, dst_mac=VM_C)
    t.add_bridging(tgt.switch, VNET, VM_C, "to_tunnel", tunnel_id=3)
    t.add_tunnel(tgt.switch, 3, SW_UNDERLAY_IP, PEER_UNDERLAY_IP)
    t.add_underlay_next_hop(tgt.switch, PEER_UNDERLAY_IP, 5, SW_UNDERLAY_MAC, PEER_UNDERLAY_MAC)
    tgt.dataplane.send(1, b(tcp_frame(dst=GW_MAC, ip_dst="10.0.2.5", ttl=10)))
    inner = tcp_frame(dst=VM_C, src=GW_MAC, ip_dst="10.0.2.5", ttl=9)
    tgt.dataplane.verify_packet(b(encapsulated(inner)), 5)
    tgt.dataplane.verify_no_other_packets()


@pytest.mark.parametrize(
    ("frame", "ether_type", "reason"),
    [
        (Ether(dst=BROADCAST, src=VM_A) / ARP(op=1, hwsrc=VM_A, psrc="10.0.1.1",
                                              pdst="10.0.1.2"), 0x0806, REASON_ARP),
        (Ether(dst=BROADCAST, src=VM_A, type=0x8035) / ARP(op=3, hwsrc=VM_A, hwdst=VM_A,
                                                           psrc="0.0.0.0", pdst="0.0.0.0"),
         0x8035, REASON_RARP),
    ],
    ids=["arp", "rarp"],
)
def test_punt_with_metadata(tgt: Target, frame: Ether, ether_type: int, reason: int) -> None:
    two_access_ports(tgt)
    t.add_punt(tgt.switch, ether_type, reason)
    t.add_bridging(tgt.switch, VNET, BROADCAST, "forward", port=2)  # punt wins over bridging
    tgt.dataplane.send(1, b(frame))
    pkt = tgt.switch.packet_in()
    assert pkt.payload == b(frame)
    assert dict(pkt.metadata) == {"ingress_port": 1, "_pad0": 0, "reason": reason, "_pad1": 0,
                                  "vnet_id": VNET}
    tgt.dataplane.verify_no_other_packets()


def test_lldp_punted_from_unconfigured_port(tgt: Target) -> None:
    t.add_punt(tgt.switch, 0x88CC, REASON_LLDP)
    lldp = (Ether(dst="01:80:c2:00:00:0e", src="02:00:00:00:02:01", type=0x88CC)
            / LLDPDU() / LLDPDUChassisID(subtype=7, id=b"s1") / LLDPDUPortID(subtype=7, id=b"4")
            / LLDPDUTimeToLive(ttl=120) / LLDPDUEndOfLLDPDU())
    tgt.dataplane.send(4, b(lldp))
    pkt = tgt.switch.packet_in()
    assert pkt.payload == b(lldp)
    assert pkt.metadata["ingress_port"] == 4
    assert pkt.metadata["reason"] == REASON_LLDP
    assert pkt.metadata["vnet_id"] == 0


@pytest.mark.gre
def test_dhcp_punted_and_rarp_from_tunnel_punted(tgt: Target) -> None:
    two_access_ports(tgt)
    t.add_underlay_port(tgt.switch, 5)
    t.add_gre_termination(tgt.switch, SW_UNDERLAY_IP)
    t.add_punt(tgt.switch, 0x0800, REASON_DHCP, ip_proto=17, l4_dst_port=67)
    t.add_punt(tgt.switch, 0x8035, REASON_RARP)
    dhcp = (Ether(dst=BROADCAST, src=VM_A) / IP(src="0.0.0.0", dst="255.255.255.255")
            / UDP(sport=68, dport=67) / (b"\x01" + b"\x00" * 240))
    tgt.dataplane.send(2, b(dhcp))
    pkt = tgt.switch.packet_in()
    assert (pkt.payload, pkt.metadata["reason"], pkt.metadata["ingress_port"]) == (
        b(dhcp), REASON_DHCP, 2)
    rarp = Ether(dst=BROADCAST, src=VM_C, type=0x8035) / ARP(op=3, hwsrc=VM_C, hwdst=VM_C)
    tgt.dataplane.send(5, b(gre_frame(rarp, key=VNET)))
    pkt = tgt.switch.packet_in()
    assert pkt.payload == b(rarp)  # the inner frame, outer headers stripped
    assert (pkt.metadata["reason"], pkt.metadata["vnet_id"], pkt.metadata["ingress_port"]) == (
        REASON_RARP, VNET, 5)
    tgt.dataplane.verify_no_other_packets()


def test_bridging_to_cpu(tgt: Target) -> None:
    two_access_ports(tgt)
    t.add_bridging(tgt.switch, VNET, VM_C, "to_cpu")
    frame = b(tcp_frame(dst=VM_C))
    tgt.dataplane.send(2, frame)
    pkt = tgt.switch.packet_in()
    assert (pkt.payload, pkt.metadata["reason"], pkt.metadata["ingress_port"]) == (
        frame, REASON_BRIDGING, 2)
    tgt.dataplane.verify_no_other_packets()


def test_multicast_flood_skips_ingress_port(tgt: Target) -> None:
    two_access_ports(tgt)
    t.add_access_port(tgt.switch, 3, VNET)
    t.add_fabric_port(tgt.switch, 4)
    t.add_multicast_group(tgt.switch, 1, [1, 2, 3, 4])
    t.add_bridging(tgt.switch, VNET, BROADCAST, "flood", group=1)
    frame = Ether(dst=BROADCAST, src=VM_A, type=0x88B5) / (b"\x00" * 46)
    tgt.dataplane.send(1, b(frame))
    tgt.dataplane.verify_packets(b(frame), [2, 3])
    tagged = Ether(dst=BROADCAST, src=VM_A) / Dot1Q(vlan=VNET, type=0x88B5) / (b"\x00" * 46)
    tgt.dataplane.verify_packet(b(tagged), 4)
    tgt.dataplane.verify_no_other_packets()


def tunnels_to_two_sites(tgt: Target) -> None:
    """Underlay port 5, terminating our address; tunnel 7 to the peer site, 8 to a third."""
    t.add_underlay_port(tgt.switch, 5)
    t.add_gre_termination(tgt.switch, SW_UNDERLAY_IP)
    t.add_tunnel(tgt.switch, 7, SW_UNDERLAY_IP, PEER_UNDERLAY_IP)
    t.add_underlay_next_hop(tgt.switch, PEER_UNDERLAY_IP, 5, SW_UNDERLAY_MAC, PEER_UNDERLAY_MAC)
    t.add_tunnel(tgt.switch, 8, SW_UNDERLAY_IP, THIRD_UNDERLAY_IP)
    t.add_underlay_next_hop(tgt.switch, THIRD_UNDERLAY_IP, 5, SW_UNDERLAY_MAC,
                            THIRD_UNDERLAY_MAC)


@pytest.mark.gre
def test_flood_copy_into_gre_tunnel(tgt: Target) -> None:
    """A VM in flight to another site: a copy to its port here, one tagged along a fabric
    link, and one into the tunnel (a replica whose instance is the tunnel id), counted by
    the tunnel's entry."""
    two_access_ports(tgt)
    t.add_fabric_port(tgt.switch, 4)
    tunnels_to_two_sites(tgt)
    t.add_multicast_group(tgt.switch, 1, [2, 4], tunnels=((5, 7),))
    t.add_bridging(tgt.switch, VNET, VM_B, "flood", group=1)
    frame = tcp_frame()
    tgt.dataplane.send(1, b(frame))
    tgt.dataplane.verify_packet(b(frame), 2)
    tgt.dataplane.verify_packet(b(Ether(dst=VM_B, src=VM_A) / Dot1Q(vlan=VNET)
                                  / frame.payload), 4)
    tgt.dataplane.verify_packet(b(encapsulated(frame)), 5)
    tgt.dataplane.verify_no_other_packets()
    counted = {int(e.match["tunnel_id"]): e.counter for e in
               tgt.switch.read_table("tunnel_encap", counters=True)
               if isinstance(e, TableEntry)}
    assert counted[7] is not None and counted[7].packets == 1
    assert counted[8] is not None and counted[8].packets == 0


@pytest.mark.gre
def test_routed_flood_into_two_tunnels(tgt: Target) -> None:
    """A third site's gateway sends a VM in flight its frames through both sites' tunnels,
    routed (MACs rewritten, TTL - 1) before they are copied."""
    two_access_ports(tgt)
    tunnels_to_two_sites(tgt)
    t.add_my_station(tgt.switch, VNET, GW_MAC)
    t.add_route_v4(tgt.switch, VNET, "10.0.2.5", src_mac=GW_MAC, dst_mac=VM_C)
    t.add_multicast_group(tgt.switch, 2, [], tunnels=((5, 7), (5, 8)))
    t.add_bridging(tgt.switch, VNET, VM_C, "flood", group=2)
    tgt.dataplane.send(1, b(tcp_frame(dst=GW_MAC, ip_dst="10.0.2.5", ttl=10)))
    inner = tcp_frame(dst=VM_C, src=GW_MAC, ip_dst="10.0.2.5", ttl=9)
    tgt.dataplane.verify_packet(b(encapsulated(inner)), 5)
    tgt.dataplane.verify_packet(b(encapsulated(inner, dst_mac=THIRD_UNDERLAY_MAC,
                                               dst_ip=THIRD_UNDERLAY_IP)), 5)
    tgt.dataplane.verify_no_other_packets()


@pytest.mark.gre
def test_flood_copy_never_from_one_tunnel_into_another(tgt: Target) -> None:
    """A frame that came out of a tunnel reaches the local copies of its group only: the
    gateways are a full mesh, so the tunnels' copies would be duplicates or loops."""
    two_access_ports(tgt)
    tunnels_to_two_sites(tgt)
    t.add_multicast_group(tgt.switch, 3, [2], tunnels=((5, 7), (5, 8)))
    t.add_bridging(tgt.switch, VNET, VM_B, "flood", group=3)
    inner = tcp_frame(src=VM_C)
    tgt.dataplane.send(5, b(gre_frame(inner)))
    tgt.dataplane.verify_packet(b(inner), 2)
    tgt.dataplane.verify_no_other_packets()


@pytest.mark.gre
def test_packet_out_to_group_with_tunnel_copy_leaves_as_built(tgt: Target) -> None:
    """The controller's frames go out of every replica's port exactly as it built them,
    a replica with a tunnel id too."""
    tunnels_to_two_sites(tgt)
    t.add_multicast_group(tgt.switch, 9, [3], tunnels=((5, 7),))
    frame = b(Ether(dst=VM_B, src=GW_MAC, type=0x88B5) / (b"\x02" * 46))
    tgt.switch.packet_out(PacketOut(frame, {"egress_port": 0, "mcast_grp": 9}))
    tgt.dataplane.verify_packets(frame, [3, 5])
    tgt.dataplane.verify_no_other_packets()


def test_packet_out_to_port_and_group(tgt: Target) -> None:
    frame = b(Ether(dst=VM_B, src=GW_MAC, type=0x88B5) / (b"\x01" * 46))
    tgt.switch.packet_out(PacketOut(frame, {"egress_port": 3}))
    tgt.dataplane.verify_packet(frame, 3)
    t.add_multicast_group(tgt.switch, 9, [2, 6])
    tgt.switch.packet_out(PacketOut(frame, {"egress_port": 0, "mcast_grp": 9}))
    tgt.dataplane.verify_packets(frame, [2, 6])
    tgt.dataplane.verify_no_other_packets()


def test_read_returns_entries_with_direct_counters(tgt: Target) -> None:
    two_access_ports(tgt)
    entry = t.add_bridging(tgt.switch, VNET, VM_B, "forward", port=2)
    for _ in range(3):
        tgt.dataplane.send(1, b(tcp_frame()))
        tgt.dataplane.verify_packet(b(tcp_frame()), 2)
    entries = tgt.switch.read_table("bridging", counters=True)
    assert len(entries) == 1
    got = entries[0]
    assert isinstance(got, TableEntry)
    assert (got.table, got.match, got.action, got.params) == (
        entry.table, entry.match, entry.action, entry.params)
    assert got.counter == CounterData(packets=3, bytes=3 * len(b(tcp_frame())))
