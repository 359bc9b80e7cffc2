"""Frames of every kind the packet-in parser knows, built with struct, and hypothesis
strategies that make them with random fields, mutate and cut them.

Used by tests/fastpath/test_parse.py, bench/bench_parse.py and the fuzzer's seeds
(ext/fuzz/seeds.py): plain Python, no scapy, so it is fast and exact.
"""

from __future__ import annotations

import struct

from hypothesis import strategies as st

BROADCAST = 0xFFFFFFFFFFFF
LLDP_MULTICAST = 0x0180C200000E
A, B = 0x02000000000A, 0x02000000000B


def mac(value: int) -> bytes:
    return value.to_bytes(6, "big")


def eth(dst: int, src: int, ether_type: int, payload: bytes, vlan: int | None = None) -> bytes:
    tag = b"" if vlan is None else struct.pack("!HH", 0x8100, vlan)
    return mac(dst) + mac(src) + tag + struct.pack("!H", ether_type) + payload


def arp(oper: int, sha: int, spa: int, tha: int, tpa: int) -> bytes:
    return struct.pack("!HHBBH6sI6sI", 1, 0x0800, 6, 4, oper, mac(sha), spa, mac(tha), tpa)


def arp_frame(oper: int = 1, sha: int = A, spa: int = 0x0A000001, tha: int = 0,
              tpa: int = 0x0A000002, *, rarp: bool = False, vlan: int | None = None) -> bytes:
    frame = eth(BROADCAST, sha, 0x8035 if rarp else 0x0806, arp(oper, sha, spa, tha, tpa), vlan)
    return frame + bytes(max(0, 60 - len(frame)))


def ipv4(src: int, dst: int, proto: int, payload: bytes, *, ttl: int = 64, options: bytes = b"",
         frag: int = 0) -> bytes:
    ihl = 5 + len(options) // 4
    head = struct.pack("!BBHHHBBHII", 0x40 | ihl, 0, 4 * ihl + len(payload), 1, frag, ttl, proto,
                       0, src, dst)
    return head + options + payload


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def dhcp(op: int = 1, xid: int = 0x1234, chaddr: int = A, *, msg_type: int | None = 1,
         requested: int | None = None, ciaddr: int = 0, yiaddr: int = 0,
         extra: bytes = b"") -> bytes:
    fixed = struct.pack("!BBBBIHHIIII", op, 1, 6, 0, xid, 0, 0x8000, ciaddr, yiaddr, 0, 0)
    fixed += mac(chaddr) + bytes(10) + bytes(64) + bytes(128)
    opts = b"c\x82Sc"
    if msg_type is not None:
        opts += bytes([53, 1, msg_type])
    if requested is not None:
        opts += bytes([50, 4]) + struct.pack("!I", requested)
    return fixed + opts + extra + b"\xff"


def dhcp_frame(msg: bytes | None = None, *, server: bool = False) -> bytes:
    body = dhcp() if msg is None else msg
    ports = (67, 68) if server else (68, 67)
    return eth(BROADCAST, A, 0x0800, ipv4(0, 0xFFFFFFFF, 17, udp(*ports, body)))


def gre(proto: int, payload: bytes, *, key: int | None = None, csum: bool = False,
        seq: int | None = None) -> bytes:
    flags = (0x8000 if csum else 0) | (0x2000 if key is not None else 0) | (
        0x1000 if seq is not None else 0)
    head = struct.pack("!HH", flags, proto)
    if csum:
        head += bytes(4)
    if key is not None:
        head += struct.pack("!I", key)
    if seq is not None:
        head += struct.pack("!I", seq)
    return head + payload


def gre_frame(inner: bytes, key: int | None = 10, proto: int = 0x6558, *, csum: bool = False,
              seq: int | None = None) -> bytes:
    outer_ip = ipv4(0xC0000201, 0xC0000202, 47, gre(proto, inner, key=key, csum=csum, seq=seq))
    return eth(B, A, 0x0800, outer_ip)


def tlv(kind: int, value: bytes) -> bytes:
    return struct.pack("!H", kind << 9 | len(value)) + value


def lldp_frame(chassis: bytes = b"s1", port: bytes = b"4", ttl: int = 120, *,
               subtype: int = 7, extra: bytes = b"", end: bool = True) -> bytes:
    body = (tlv(1, bytes([subtype]) + chassis) + tlv(2, bytes([subtype]) + port)
            + tlv(3, struct.pack("!H", ttl)) + extra + (tlv(0, b"") if end else b""))
    frame = eth(LLDP_MULTICAST, A, 0x88CC, body)
    return frame + bytes(max(0, 60 - len(frame))) if end else frame  # no End: no padding


def corpus() -> list[bytes]:
    """One frame of each kind the parser knows, and a few it rejects."""
    inner_ip = eth(B, A, 0x0800, ipv4(0x0A000001, 0x0A000002, 17, udp(1000, 2000, b"x" * 20)))
    inner_arp = arp_frame(1, A, 0x0A000001, 0, 0x0A000002)
    return [
        arp_frame(),
        arp_frame(3, A, 0, A, 0, rarp=True),
        arp_frame(2, B, 0x0A000002, A, 0x0A000001, vlan=10),
        eth(B, A, 0x0800, ipv4(0x0A000001, 0x0A000002, 6, bytes(20) + b"payload")),
        gre_frame(inner_ip, key=10),
        gre_frame(inner_arp, key=20),
        gre_frame(ipv4(1, 2, 6, b""), key=None, proto=0x0800),
        gre_frame(inner_ip, key=4095, csum=True, seq=7),
        lldp_frame(),
        lldp_frame(b"spine-1", b"17", 4, extra=tlv(5, b"name")),
        dhcp_frame(dhcp(1, 7, A, msg_type=3, requested=0x0A000063)),
        dhcp_frame(dhcp(2, 7, A, msg_type=5, yiaddr=0x0A000063), server=True),
        eth(B, A, 0x86DD, bytes(40)),                   # IPv6: unknown
        arp_frame()[:30],                               # truncated
    ]


def mixed(n: int) -> list[bytes]:
    """n frames cycling through ARP, RARP, LLDP, IPv4, GRE (and DHCP, VLAN, IPv6)."""
    base = corpus()[:-1]
    return [base[i % len(base)] for i in range(n)]


# Hypothesis: frames of each kind with random fields, then mutated.

u8, u16, u32 = st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)
macs = st.integers(0, (1 << 48) - 1)
vlans = st.none() | st.integers(0, 0xFFFF)


@st.composite
def arp_frames(draw: st.DrawFn) -> bytes:
    return arp_frame(draw(st.integers(1, 4)), draw(macs), draw(u32), draw(macs), draw(u32),
                     rarp=draw(st.booleans()), vlan=draw(vlans))


ANY_SUBTYPE = st.integers(0, 255)


@st.composite
def lldp_frames(draw: st.DrawFn, subtypes: st.SearchStrategy[int] = ANY_SUBTYPE) -> bytes:
    ids = st.binary(min_size=1, max_size=40)
    extra = draw(st.lists(st.tuples(st.integers(4, 127), st.binary(max_size=30)), max_size=3))
    return lldp_frame(draw(ids), draw(ids), draw(u16), subtype=draw(subtypes),
                      extra=b"".join(tlv(k, v) for k, v in extra), end=draw(st.booleans()))


@st.composite
def dhcp_frames(draw: st.DrawFn) -> bytes:
    msg = dhcp(draw(st.integers(1, 2)), draw(u32), draw(macs),
               msg_type=draw(st.none() | st.integers(1, 8)), requested=draw(st.none() | u32),
               ciaddr=draw(u32), yiaddr=draw(u32), extra=draw(st.sampled_from([b"", b"\0\0"])))
    return dhcp_frame(msg, server=draw(st.booleans()))


@st.composite
def ipv4_frames(draw: st.DrawFn) -> bytes:
    options = draw(st.sampled_from([b"", b"\x01\x01\x01\x01", bytes(8)]))
    proto = draw(st.sampled_from([1, 6, 17, 89]))
    payload = draw(st.binary(max_size=40))
    if proto == 17:
        payload = udp(draw(u16), draw(u16), payload)
    frag = draw(st.sampled_from([0, 0x2000, 0x0010]))
    return eth(draw(macs), draw(macs), 0x0800,
               ipv4(draw(u32), draw(u32), proto, payload, ttl=draw(u8), options=options,
                    frag=frag), draw(vlans))


@st.composite
def gre_frames(draw: st.DrawFn) -> bytes:
    proto = draw(st.sampled_from([0x6558, 0x0800, 0x86DD]))
    if proto == 0x6558:
        inner = draw(st.one_of(arp_frames(), ipv4_frames()))
    elif proto == 0x0800:
        inner = ipv4(draw(u32), draw(u32), draw(u8), draw(st.binary(max_size=20)))
    else:
        inner = draw(st.binary(max_size=30))
    return gre_frame(inner, key=draw(st.none() | u32), proto=proto, csum=draw(st.booleans()),
                     seq=draw(st.none() | u32))


def well_formed(lldp_subtypes: st.SearchStrategy[int] = ANY_SUBTYPE
                ) -> st.SearchStrategy[bytes]:
    """Frames the parser accepts whole. (scapy reads LLDP ids by subtype: give it 7,
    locally assigned, which it keeps as bytes.)"""
    return st.one_of(arp_frames(), lldp_frames(lldp_subtypes), dhcp_frames(), ipv4_frames(),
                     gre_frames())


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A well-formed frame with bytes changed, cut, or extended."""
    frame = bytearray(draw(well_formed()))
    for _ in range(draw(st.integers(0, 4))):
        if frame:
            frame[draw(st.integers(0, len(frame) - 1))] = draw(u8)
    cut = draw(st.integers(0, len(frame)))
    if draw(st.booleans()):
        del frame[cut:]
    return bytes(frame) + draw(st.binary(max_size=8))


def any_frames() -> st.SearchStrategy[bytes]:
    return st.one_of(well_formed(), mutated(), st.binary(max_size=120))
