"""A batch of packet-ins, parsed in one call, read into what the controller acts on."""

from __future__ import annotations

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether

from ctrl.control.hosts import Source
from ctrl.fastpath import Backend, BatchParser
from ctrl.p4rt.entity import PacketIn
from ctrl.punt.classify import HostSeen, classify, parse_packet_ins
from ctrl.punt.frames import rarp_announcement
from ctrl.punt.lldp import build_lldp

MAC = "02:00:00:00:00:0a"
MAC_INT = 0x02000000000A
UNBRIDGED = bytes(Ether(src=MAC, dst="02:00:00:00:00:0b") / IP(dst="10.0.0.2") / UDP(dport=9))


def pin(frame: bytes, port: int = 3, vnet: int = 10, reason: int = 1) -> PacketIn:
    return PacketIn(frame, {"ingress_port": port, "reason": reason, "vnet_id": vnet})


def dhcp(op: int, msg_type: str, chaddr: str = MAC, requested: str | None = None) -> bytes:
    opts: list[tuple[str, str] | str] = [("message-type", msg_type)]
    if requested:
        opts.append(("requested_addr", requested))
    return bytes(Ether(src=MAC, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255")
                 / UDP(sport=68, dport=67)
                 / BOOTP(op=op, chaddr=bytes.fromhex(chaddr.replace(":", "")) + bytes(10))
                 / DHCP(options=[*opts, "end"]))


@pytest.mark.parametrize("backend", [Backend.AUTO, Backend.REFERENCE])
def test_a_mixed_batch(backend: Backend) -> None:
    frames = [
        pin(bytes(Ether(src=MAC, dst="ff:ff:ff:ff:ff:ff")
                  / ARP(op=1, hwsrc=MAC, psrc="10.0.0.1", pdst="10.0.0.2"))),
        pin(bytes(Ether(src=MAC, dst="ff:ff:ff:ff:ff:ff")
                  / ARP(op=1, hwsrc=MAC, psrc="10.0.0.1", pdst="10.0.0.1")), port=4),
        pin(rarp_announcement(MAC_INT), port=5, vnet=0, reason=2),
        pin(dhcp(1, "request", requested="10.0.0.9"), port=6, reason=4),
        pin(dhcp(1, "discover"), port=6, reason=4),
        pin(dhcp(2, "ack"), port=6, reason=4),                 # a reply: not a host's own
        pin(build_lldp("s2", 7, b"\x02\x00\x00\x00\x00\xfe"), port=1, vnet=0, reason=3),
        pin(rarp_announcement(MAC_INT)[:30], reason=2),        # truncated
        pin(bytes(Ether(src="02:00:00:00:00:0b", dst="ff:ff:ff:ff:ff:ff")
                  / ARP(op=1, hwsrc=MAC, psrc="10.0.0.1", pdst="10.0.0.2"))),  # sha != source
        pin(UNBRIDGED, port=2, reason=5),
    ]
    seen = classify(parse_packet_ins(BatchParser(backend), frames), [f.payload for f in frames])
    arp, garp, rarp, req, disc = seen.hosts
    assert arp.source is Source.ARP and arp.arp is not None and arp.arp.tpa == 0x0A000002
    assert (arp.port, arp.vnet, arp.mac, arp.ip) == (3, 10, MAC_INT, 0x0A000001)
    assert garp == HostSeen(4, 10, MAC_INT, 0x0A000001, Source.GARP)
    assert rarp == HostSeen(5, 0, MAC_INT, None, Source.RARP)
    assert req == HostSeen(6, 10, MAC_INT, 0x0A000009, Source.DHCP)
    assert disc == HostSeen(6, 10, MAC_INT, None, Source.DHCP)
    assert [(p.port, p.info.chassis, p.info.port) for p in seen.probes] == [(1, "s2", 7)]
    assert (seen.malformed, seen.ignored) == (1, 2)
    assert [(u.port, u.vnet, u.dst_mac, u.frame) for u in seen.unbridged] == [
        (2, 10, 0x02000000000B, UNBRIDGED)]


def test_nothing_in_nothing_out() -> None:
    seen = classify(parse_packet_ins(BatchParser(), []), [])
    assert (seen.hosts, seen.probes, seen.malformed, seen.ignored) == ([], [], 0, 0)
