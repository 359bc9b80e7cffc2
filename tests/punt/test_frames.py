"""ARP/RARP parsing and building, checked against scapy's dissection."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.l2 import ARP, Ether

from ctrl.punt.frames import (
    ARP_REPLY,
    ETHERTYPE_RARP,
    arp_reply,
    gre_encap,
    parse_arp,
    rarp_announcement,
)


def test_parse_arp_request_like_scapy() -> None:
    frame = bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:00:0a")
                  / ARP(op=1, hwsrc="02:00:00:00:00:0a", psrc="10.0.0.1", pdst="10.0.0.2"))
    arp = parse_arp(frame)
    assert arp is not None
    assert (arp.oper, arp.sha, arp.spa, arp.tpa) == (1, 0x02000000000A, 0x0A000001, 0x0A000002)
    assert not arp.is_rarp and not arp.is_gratuitous


def test_reply_is_what_scapy_reads() -> None:
    req = parse_arp(bytes(Ether(src="02:00:00:00:00:0a", dst="ff:ff:ff:ff:ff:ff")
                          / ARP(op=1, hwsrc="02:00:00:00:00:0a", psrc="10.0.0.1",
                                pdst="10.0.0.2")))
    assert req is not None
    pkt = Ether(arp_reply(req, 0x02000000000B))
    assert pkt[Ether].dst == "02:00:00:00:00:0a" and pkt[Ether].src == "02:00:00:00:00:0b"
    assert pkt[ARP].op == ARP_REPLY
    assert (pkt[ARP].hwsrc, pkt[ARP].psrc) == ("02:00:00:00:00:0b", "10.0.0.2")
    assert (pkt[ARP].hwdst, pkt[ARP].pdst) == ("02:00:00:00:00:0a", "10.0.0.1")
    assert len(bytes(pkt)) == 60


def test_rarp_announcement_like_qemu() -> None:
    frame = rarp_announcement(0x02000000000C)
    pkt = Ether(frame)
    assert pkt.type == ETHERTYPE_RARP and pkt.dst == "ff:ff:ff:ff:ff:ff"
    arp = parse_arp(frame)
    assert arp is not None and arp.is_rarp and arp.oper == 3 and arp.sha == 0x02000000000C


@given(st.binary(max_size=80))
def test_any_bytes_parse_or_are_refused(data: bytes) -> None:
    arp = parse_arp(data)
    if arp is not None:
        assert len(data) >= 42 and data[12:14] in (b"\x08\x06", b"\x80\x35")


def test_gratuitous_and_truncated() -> None:
    garp = bytes(Ether(src="02:00:00:00:00:0a", dst="ff:ff:ff:ff:ff:ff")
                 / ARP(op=1, hwsrc="02:00:00:00:00:0a", psrc="10.0.0.1", pdst="10.0.0.1"))
    arp = parse_arp(garp)
    assert arp is not None and arp.is_gratuitous
    assert parse_arp(garp[:41]) is None
    assert parse_arp(garp[:16] + b"\x86\xdd" + garp[18:]) is None  # not IPv4 over Ethernet


def test_gre_encap_is_what_scapy_reads() -> None:
    from scapy.layers.inet import IP
    from scapy.layers.l2 import GRE

    inner = bytes(Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b") / IP(dst="10.0.0.2"))
    frame = gre_encap(inner, key=10, src_ip=0xC0000201, dst_ip=0xC0000202,
                      src_mac=0x0200000000F1, dst_mac=0x0200000000F2)
    pkt = Ether(frame)
    assert (pkt.src, pkt.dst) == ("02:00:00:00:00:f1", "02:00:00:00:00:f2")
    ip = pkt[IP]
    assert (ip.src, ip.dst, ip.proto, ip.ttl, ip.id, ip.flags, ip.len) == (
        "192.0.2.1", "192.0.2.2", 47, 64, 0, 0, 20 + 8 + len(inner))
    assert ip.chksum == IP(bytes(IP(src="192.0.2.1", dst="192.0.2.2", proto=47, ttl=64, id=0,
                                    len=ip.len))).chksum
    gre = pkt[GRE]
    assert (gre.key_present, gre.key, gre.proto) == (1, 10, 0x6558)
    assert bytes(gre.payload) == inner
