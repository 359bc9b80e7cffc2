"""The packet-in parser in pure Python: the reference the C parser (ext/fp_parse.c) equals.

It follows the C code step by step, so that both give the same record for any
bytes, down to which parts a rejected frame keeps; the tests compare them on
random and mutated frames. Use ctrl.fastpath.parse_batch, which picks the C
parser where it is built.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from ctrl.fastpath.records import (
    FRAME_MAX,
    Arp,
    Dhcp,
    Ethernet,
    Gre,
    Ipv4,
    Kind,
    Lldp,
    Meta,
    Record,
    Reject,
    Udp,
    Vlan,
)

ETH_HLEN = 14
ETHERTYPE_IPV4, ETHERTYPE_ARP, ETHERTYPE_RARP = 0x0800, 0x0806, 0x8035
ETHERTYPE_VLAN, ETHERTYPE_LLDP, ETHERTYPE_TEB = 0x8100, 0x88CC, 0x6558
IP_PROTO_UDP, IP_PROTO_GRE = 17, 47
GRE_C, GRE_R, GRE_K, GRE_S, GRE_VERSION = 0x8000, 0x4000, 0x2000, 0x1000, 0x0007
DHCP_SERVER_PORT, DHCP_CLIENT_PORT = 67, 68
BOOTP_FIXED, DHCP_COOKIE = 236, 0x63825363

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_ARP = struct.Struct("!HHBBH6s4s6s4s")


class _Rejected(Exception):
    """Unwinds the parse with a reason; the parts made so far stay."""

    def __init__(self, reason: Reject) -> None:
        super().__init__(reason.name)
        self.reason = reason


@dataclass(slots=True)
class _Parts:
    """A record in the making."""

    kind: Kind = Kind.OTHER
    eth: Ethernet | None = None
    vlan: Vlan | None = None
    arp: Arp | None = None
    ipv4: Ipv4 | None = None
    udp: Udp | None = None
    dhcp: Dhcp | None = None
    gre: Gre | None = None
    inner_eth: Ethernet | None = None
    inner_arp: Arp | None = None
    inner_ipv4: Ipv4 | None = None
    lldp: Lldp | None = None


def _need(off: int, want: int, end: int) -> None:
    if not (off <= end and want <= end - off):
        raise _Rejected(Reject.TRUNCATED)


def _mac(f: bytes, off: int) -> int:
    return int.from_bytes(f[off:off + 6], "big")


def _arp(f: bytes, off: int, end: int) -> Arp:
    _need(off, 8, end)
    htype, ptype, hlen, plen = struct.unpack_from("!HHBB", f, off)
    if htype != 1 or ptype != ETHERTYPE_IPV4:
        raise _Rejected(Reject.UNKNOWN)
    if hlen != 6 or plen != 4:
        raise _Rejected(Reject.BAD_LENGTH)
    _need(off, 28, end)
    _, _, _, _, oper, sha, spa, tha, tpa = _ARP.unpack_from(f, off)
    return Arp(oper, int.from_bytes(sha, "big"), int.from_bytes(spa, "big"),
               int.from_bytes(tha, "big"), int.from_bytes(tpa, "big"))


def _ipv4(f: bytes, off: int, end: int) -> tuple[Ipv4, int, int, bool]:
    """The header, where its payload starts and ends, and whether it is a first fragment."""
    _need(off, 20, end)
    if f[off] >> 4 != 4:
        raise _Rejected(Reject.UNKNOWN)
    ihl = (f[off] & 0x0F) * 4
    if ihl < 20:
        raise _Rejected(Reject.BAD_LENGTH)
    _need(off, ihl, end)
    (total,) = _U16.unpack_from(f, off + 2)
    if total < ihl:
        raise _Rejected(Reject.BAD_LENGTH)
    _need(off, total, end)
    (frag,) = _U16.unpack_from(f, off + 6)
    ip = Ipv4(_U32.unpack_from(f, off + 12)[0], _U32.unpack_from(f, off + 16)[0], f[off + 9],
              f[off + 8])
    return ip, off + ihl, off + total, frag & 0x1FFF == 0


def _dhcp(f: bytes, off: int, end: int) -> Dhcp:
    _need(off, BOOTP_FIXED + 4, end)
    if f[off] not in (1, 2):
        raise _Rejected(Reject.MALFORMED)
    if f[off + 1] != 1 or f[off + 2] != 6:
        raise _Rejected(Reject.UNKNOWN)
    if _U32.unpack_from(f, off + BOOTP_FIXED)[0] != DHCP_COOKIE:
        raise _Rejected(Reject.MALFORMED)
    msg_type = requested = 0
    pos = off + BOOTP_FIXED + 4
    while pos < end:
        code = f[pos]
        if code == 255:
            break
        if code == 0:
            pos += 1
            continue
        _need(pos, 2, end)
        length = f[pos + 1]
        _need(pos + 2, length, end)
        if code == 53:
            if length != 1:
                raise _Rejected(Reject.BAD_LENGTH)
            msg_type = f[pos + 2]
        elif code == 50:
            if length != 4:
                raise _Rejected(Reject.BAD_LENGTH)
            (requested,) = _U32.unpack_from(f, pos + 2)
        pos += 2 + length
    return Dhcp(op=f[off], xid=_U32.unpack_from(f, off + 4)[0],
                ciaddr=_U32.unpack_from(f, off + 12)[0], yiaddr=_U32.unpack_from(f, off + 16)[0],
                chaddr=_mac(f, off + 28), msg_type=msg_type, requested_ip=requested)


def _udp(f: bytes, off: int, end: int, out: _Parts) -> None:
    _need(off, 8, end)
    sport, dport, length = struct.unpack_from("!HHH", f, off)
    if length < 8:
        raise _Rejected(Reject.BAD_LENGTH)
    _need(off, length, end)
    out.udp = Udp(sport, dport)
    if (sport, dport) in ((DHCP_CLIENT_PORT, DHCP_SERVER_PORT),
                          (DHCP_SERVER_PORT, DHCP_CLIENT_PORT)):
        out.kind = Kind.DHCP
        out.dhcp = _dhcp(f, off + 8, off + length)


def _gre(f: bytes, off: int, end: int, out: _Parts) -> None:
    out.kind = Kind.GRE
    _need(off, 4, end)
    flags, proto = struct.unpack_from("!HH", f, off)
    if flags & GRE_VERSION or flags & GRE_R:
        raise _Rejected(Reject.UNKNOWN)
    hlen = 4 + sum(4 for bit in (GRE_C, GRE_K, GRE_S) if flags & bit)
    _need(off, hlen, end)
    key = _U32.unpack_from(f, off + (8 if flags & GRE_C else 4))[0] if flags & GRE_K else 0
    out.gre = Gre(flags, proto, key)
    off += hlen
    if proto == ETHERTYPE_IPV4:
        out.inner_ipv4 = _ipv4(f, off, end)[0]
        return
    if proto != ETHERTYPE_TEB:
        return
    _need(off, ETH_HLEN, end)
    inner = Ethernet(_mac(f, off), _mac(f, off + 6), _U16.unpack_from(f, off + 12)[0])
    out.inner_eth = inner
    off += ETH_HLEN
    if inner.ether_type in (ETHERTYPE_ARP, ETHERTYPE_RARP):
        out.inner_arp = _arp(f, off, end)
    elif inner.ether_type == ETHERTYPE_IPV4:
        out.inner_ipv4 = _ipv4(f, off, end)[0]


def _ipv4_frame(f: bytes, off: int, end: int, out: _Parts) -> None:
    out.kind = Kind.IPV4
    ip, payload, payload_end, first = _ipv4(f, off, end)
    out.ipv4 = ip
    if not first:
        return
    if ip.proto == IP_PROTO_GRE:
        _gre(f, payload, payload_end, out)
    elif ip.proto == IP_PROTO_UDP:
        _udp(f, payload, payload_end, out)


def _lldp(f: bytes, off: int, end: int) -> Lldp:
    seen = 0
    ids: list[tuple[int, bytes]] = []
    ttl = 0
    while off < end:
        _need(off, 2, end)
        (head,) = _U16.unpack_from(f, off)
        kind, length = head >> 9, head & 0x1FF
        off += 2
        _need(off, length, end)
        if seen < 3 and kind != seen + 1:
            raise _Rejected(Reject.MALFORMED)
        if kind == 0:
            if length != 0:
                raise _Rejected(Reject.BAD_LENGTH)
            break
        if seen in (0, 1):
            if not 2 <= length <= 256:
                raise _Rejected(Reject.BAD_LENGTH)
            ids.append((f[off], bytes(f[off + 1:off + length])))
            seen += 1
        elif seen == 2:
            if length != 2:
                raise _Rejected(Reject.BAD_LENGTH)
            (ttl,) = _U16.unpack_from(f, off)
            seen += 1
        off += length
    if seen != 3:
        raise _Rejected(Reject.MALFORMED)
    (chassis_subtype, chassis), (port_subtype, port) = ids
    return Lldp(chassis_subtype, chassis, port_subtype, port, ttl)


def _frame(f: bytes, out: _Parts) -> None:
    if len(f) > FRAME_MAX:
        raise _Rejected(Reject.BAD_LENGTH)
    end = len(f)
    _need(0, ETH_HLEN, end)
    ether_type = _U16.unpack_from(f, 12)[0]
    off = ETH_HLEN
    if ether_type == ETHERTYPE_VLAN:
        out.eth = Ethernet(_mac(f, 0), _mac(f, 6), ether_type)
        _need(off, 4, end)
        tci, ether_type = struct.unpack_from("!HH", f, off)
        out.vlan = Vlan(tci)
        off += 4
    out.eth = Ethernet(_mac(f, 0), _mac(f, 6), ether_type)
    if ether_type in (ETHERTYPE_ARP, ETHERTYPE_RARP):
        out.kind = Kind.ARP if ether_type == ETHERTYPE_ARP else Kind.RARP
        out.arp = _arp(f, off, end)
    elif ether_type == ETHERTYPE_IPV4:
        _ipv4_frame(f, off, end, out)
    elif ether_type == ETHERTYPE_LLDP:
        out.kind = Kind.LLDP
        out.lldp = _lldp(f, off, end)
    else:  # including a second VLAN tag
        raise _Rejected(Reject.UNKNOWN)


def parse_frame(frame: bytes, meta: Meta | None = None) -> Record:
    """The record of one frame."""
    out = _Parts()
    reject = Reject.NONE
    try:
        _frame(frame, out)
    except _Rejected as exc:
        reject = exc.reason
    return Record(out.kind, reject, len(frame), out.eth, out.vlan, out.arp, out.ipv4, out.udp,
                  out.dhcp, out.gre, out.inner_eth, out.inner_arp, out.inner_ipv4, out.lldp, meta)


def parse_batch(frames: Sequence[bytes], meta: Sequence[Meta | None] | None = None
                ) -> list[Record]:
    """The records of many frames, as the C batch call gives them."""
    if meta is None:
        return [parse_frame(f) for f in frames]
    return [parse_frame(f, m) for f, m in zip(frames, meta, strict=True)]
