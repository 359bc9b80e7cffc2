"""The ARP and RARP messages the controller reads and writes itself.

Punted frames arrive as the pipeline left them (VLAN tag popped, GRE stripped),
so they start with a plain Ethernet header. Reading is the fast path's job
(ctrl.fastpath, one C call per batch of packet-ins): `arp_of` turns its record
into the Arp that host learning and proxy ARP use; building is done here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ctrl.fastpath import Kind, Record, parse_batch

ETHERTYPE_ARP = 0x0806
ETHERTYPE_RARP = 0x8035
ARP_REQUEST, ARP_REPLY = 1, 2
RARP_REQUEST, RARP_REPLY = 3, 4
BROADCAST = 0xFFFFFFFFFFFF

_ETH = struct.Struct("!6s6sH")
_ARP = struct.Struct("!HHBBH6s4s6s4s")


@dataclass(frozen=True, slots=True)
class Arp:
    """An ARP or RARP message (RFC 826, RFC 903) with its Ethernet addresses."""

    ether_type: int
    eth_src: int
    eth_dst: int
    oper: int
    sha: int
    spa: int
    tha: int
    tpa: int

    @property
    def is_rarp(self) -> bool:
        return self.ether_type == ETHERTYPE_RARP

    @property
    def is_gratuitous(self) -> bool:
        return self.ether_type == ETHERTYPE_ARP and self.spa == self.tpa and self.spa != 0


def arp_of(rec: Record) -> Arp | None:
    """The Arp of a parsed frame that is a whole Ethernet/IPv4 ARP or RARP message
    with a known operation; None for anything else."""
    if not rec.ok or rec.kind not in (Kind.ARP, Kind.RARP) or rec.eth is None or rec.arp is None:
        return None
    a = rec.arp
    if not 1 <= a.oper <= 4:
        return None
    return Arp(rec.eth.ether_type, rec.eth.src, rec.eth.dst, a.oper, a.sha, a.spa, a.tha, a.tpa)


def parse_arp(frame: bytes) -> Arp | None:
    """One frame's Arp (a batch of one: callers with many frames parse them together)."""
    return arp_of(parse_batch([frame])[0])


def arp_reply(request: Arp, answer_mac: int) -> bytes:
    """The reply to an ARP request, as if `answer_mac` owned the asked-for address."""
    return build_arp(ETHERTYPE_ARP, eth_src=answer_mac, eth_dst=request.sha, oper=ARP_REPLY,
                     sha=answer_mac, spa=request.tpa, tha=request.sha, tpa=request.spa)


def build_arp(ether_type: int, *, eth_src: int, eth_dst: int, oper: int, sha: int, spa: int,
              tha: int, tpa: int) -> bytes:
    frame = _ETH.pack(_mac(eth_dst), _mac(eth_src), ether_type) + _ARP.pack(
        1, 0x0800, 6, 4, oper, _mac(sha), spa.to_bytes(4, "big"), _mac(tha),
        tpa.to_bytes(4, "big"))
    return frame + bytes(60 - len(frame))  # padded to the Ethernet minimum


def arp_probe(target_ip: int, sender_mac: int) -> bytes:
    """An ARP probe (RFC 5227: sender address 0) asking who has `target_ip`: the host
    answers to `sender_mac` from wherever it is."""
    return build_arp(ETHERTYPE_ARP, eth_src=sender_mac, eth_dst=BROADCAST, oper=ARP_REQUEST,
                     sha=sender_mac, spa=0, tha=0, tpa=target_ip)


def rarp_announcement(mac: int) -> bytes:
    """What QEMU sends after a live migration: a broadcast RARP request for its own MAC."""
    return build_arp(ETHERTYPE_RARP, eth_src=mac, eth_dst=BROADCAST, oper=RARP_REQUEST,
                     sha=mac, spa=0, tha=mac, tpa=0)


def _mac(value: int) -> bytes:
    return value.to_bytes(6, "big")


GRE_KEY_PRESENT, ETHERTYPE_IPV4, ETHERTYPE_TEB, IP_PROTO_GRE = 0x2000, 0x0800, 0x6558, 47
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_GRE_KEY = struct.Struct("!HHI")


def gre_encap(inner: bytes, *, key: int, src_ip: int, dst_ip: int, src_mac: int, dst_mac: int,
              ttl: int = 64) -> bytes:
    """`inner` in GRE with `key` over IPv4, exactly as mobility.p4's tunnel_encap and
    underlay_next_hop build it: for a frame the controller sends into a tunnel itself."""
    total = _IPV4.size + _GRE_KEY.size + len(inner)
    if total > 0xFFFF:
        raise ValueError(f"a {len(inner)}-byte frame does not fit in one GRE packet")
    header = _IPV4.pack(0x45, 0, total, 0, 0, ttl, IP_PROTO_GRE, 0, src_ip.to_bytes(4, "big"),
                        dst_ip.to_bytes(4, "big"))
    csum = _checksum(header)
    header = header[:10] + csum.to_bytes(2, "big") + header[12:]
    return (_ETH.pack(_mac(dst_mac), _mac(src_mac), ETHERTYPE_IPV4) + header
            + _GRE_KEY.pack(GRE_KEY_PRESENT, ETHERTYPE_TEB, key) + inner)


def _checksum(data: bytes) -> int:
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
