"""A batch of packet-ins, parsed in one call, read into what the controller acts on."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether

from ctrl.control.hosts import Source
from ctrl.fastpath import Backend, BatchParser
from ctrl.fastpath.stream import PacketInDecoder
from ctrl.p4rt.entity import PacketIn
from ctrl.punt.classify import HostSeen, classify, classify_kept, parse_packet_ins
from ctrl.punt.frames import rarp_announcement
from ctrl.punt.lldp import build_lldp
from tests.fastpath import frames as ff
from tests.fastpath.messages import FloodHost, flood, message, mobility_spec

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


# -- classify_kept: the same answer, ARP read from the columns ------------------------------


def _kept_equals_classify(msgs: list[bytes], backend: Backend, kept: list[int]) -> None:
    batch = PacketInDecoder(mobility_spec(), backend).decode(msgs)
    want = classify([batch.records[i] for i in kept], [batch.frame(i) for i in kept])
    assert classify_kept(batch, kept) == want


@pytest.mark.parametrize("backend", [Backend.AUTO, Backend.REFERENCE])
def test_classify_kept_equals_classify_on_the_corpus_and_a_flood(backend: Backend) -> None:
    frames = ff.corpus()
    msgs = [message(f, i % 512, 1 + i % 5, i * 300 % 4096) for i, f in enumerate(frames)]
    hosts = [FloodHost(10, 0x020000100000 + i, 0x0A000100 + i) for i in range(20)]
    msgs += [p.message for p in flood(2000, hosts, [("s1", 1), ("s1", 2)],
                                      [("s1", 9, "s2", 9)], moves=3, requests=0.2, seed=5)]
    msgs += [b"\x12\x00", b"not protobuf"]   # no PacketIn: malformed
    everything = list(range(len(msgs)))
    _kept_equals_classify(msgs, backend, everything)
    _kept_equals_classify(msgs, backend, everything[::3])
    _kept_equals_classify(msgs, backend, [])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.binary(min_size=0, max_size=80), st.integers(0, 511),
                          st.integers(0, 6), st.integers(0, 4095)), max_size=40),
       st.data())
def test_classify_kept_equals_classify_on_random_frames(
        raw: list[tuple[bytes, int, int, int]], data: st.DataObject) -> None:
    arp = bytes(Ether(src=MAC, dst="ff:ff:ff:ff:ff:ff")
                / ARP(op=1, hwsrc=MAC, psrc="10.0.0.1", pdst="10.0.0.2"))
    # random bytes, and ARP frames with random bytes over their tail
    msgs = [message(f if i % 2 else arp[:14 + len(f) % 29] + f, port, reason, vnet)
            for i, (f, port, reason, vnet) in enumerate(raw)]
    kept = sorted(data.draw(st.sets(st.integers(0, max(len(msgs) - 1, 0)))) if msgs else [])
    _kept_equals_classify(msgs, Backend.AUTO, kept)
