"""Frames of every kind the parser knows, made with scapy, for tests and benchmarks."""

from __future__ import annotations

from scapy.contrib.lldp import (
    LLDPDU,
    LLDPDUChassisID,
    LLDPDUEndOfLLDPDU,
    LLDPDUPortID,
    LLDPDUTimeToLive,
)
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, GRE, Dot1Q, Ether

A, B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"


def corpus() -> list[bytes]:
    inner_ip = Ether(dst=B, src=A) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP() / (b"x" * 20)
    inner_arp = Ether(dst=B, src=A) / ARP(op=1, hwsrc=A, psrc="10.0.0.1", pdst="10.0.0.2")
    outer = Ether(dst=B, src=A) / IP(src="192.0.2.1", dst="192.0.2.2", proto=47)
    frames = [
        Ether(dst="ff:ff:ff:ff:ff:ff", src=A) / ARP(op=1, hwsrc=A, psrc="10.0.0.1",
                                                   pdst="10.0.0.2"),
        Ether(dst="ff:ff:ff:ff:ff:ff", src=A, type=0x8035) / ARP(op=3, hwsrc=A, hwdst=A),
        Ether(dst="ff:ff:ff:ff:ff:ff", src=A) / Dot1Q(vlan=10) / ARP(op=2, hwsrc=A,
                                                                     psrc="10.0.0.1"),
        Ether(dst=B, src=A) / IP(src="10.0.0.1", dst="10.0.0.2") / TCP() / b"payload",
        outer / GRE(key_present=1, key=10, proto=0x6558) / inner_ip,
        outer / GRE(key_present=1, key=20, proto=0x6558) / inner_arp,
        outer / GRE(proto=0x0800) / IP(),
        Ether(dst="01:80:c2:00:00:0e", src=A, type=0x88CC) / LLDPDU()
        / LLDPDUChassisID(subtype=7, id=b"s1") / LLDPDUPortID(subtype=7, id=b"4")
        / LLDPDUTimeToLive(ttl=120) / LLDPDUEndOfLLDPDU(),
        Ether(dst=B, src=A) / IPv6() / UDP(),
    ]
    return [bytes(f) for f in frames]


def mixed(n: int) -> list[bytes]:
    """n frames cycling through the corpus (ARP, RARP, LLDP, IPv4, GRE, ...)."""
    base = corpus()
    return [base[i % len(base)] for i in range(n)]
