"""The C parser equals the Python reference on every frame, and both agree with scapy."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP
from scapy.layers.l2 import ARP, GRE, Ether

import ctrl.fastpath.native as native_mod
from ctrl.fastpath import FastPathError, Kind, Meta, Reject, c_module, parse_batch
from ctrl.fastpath.parse_ref import parse_batch as ref_batch
from tests.fastpath_frames import corpus

needs_c = pytest.mark.skipif(c_module() is None, reason="the C fast path is not built here")


@needs_c
def test_c_equals_reference_on_the_corpus() -> None:
    frames = corpus()
    assert list(parse_batch(frames)) == ref_batch(frames)


@needs_c
@settings(max_examples=400)
@given(st.lists(st.binary(max_size=120), max_size=20))
def test_c_equals_reference_on_random_bytes(frames: list[bytes]) -> None:
    assert list(parse_batch(frames)) == ref_batch(frames)


@needs_c
@settings(max_examples=600)
@given(st.data())
def test_c_equals_reference_on_mutated_frames(data: st.DataObject) -> None:
    frame = bytearray(data.draw(st.sampled_from(corpus())))
    for _ in range(data.draw(st.integers(0, 4))):
        i = data.draw(st.integers(0, len(frame) - 1))
        frame[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(frame)))
    frames = [bytes(frame), bytes(frame[:cut])]
    assert list(parse_batch(frames)) == ref_batch(frames)


def test_records_agree_with_scapy() -> None:
    frames = corpus()
    for frame, rec in zip(frames, parse_batch(frames), strict=True):
        pkt = Ether(frame)
        assert rec.eth_dst == bytes.fromhex(pkt.dst.replace(":", ""))
        if ARP in pkt and GRE not in pkt:
            assert rec.kind in (Kind.ARP, Kind.RARP) and rec.reject is Reject.OK
            assert rec.arp_oper == pkt[ARP].op
            assert rec.arp_spa == int(ipaddress.IPv4Address(pkt[ARP].psrc))
        if GRE in pkt:
            assert rec.kind is Kind.GRE and rec.gre_key == (pkt[GRE].key or 0)
            assert rec.ip_dst == int(ipaddress.IPv4Address(pkt[IP].dst))
            if pkt[GRE].proto == 0x6558:
                inner = pkt[GRE].payload
                assert rec.inner_ether_type == inner.type
                if ARP in inner:
                    assert rec.arp_oper == inner[ARP].op
                else:
                    assert rec.inner_ip_dst == int(ipaddress.IPv4Address(inner[IP].dst))
        if pkt.type == 0x88CC:
            assert (rec.kind, rec.lldp_chassis, rec.lldp_port, rec.lldp_ttl) == (
                Kind.LLDP, b"s1", b"4", 120)
        if pkt.type == 0x86DD:
            assert rec.reject is Reject.UNKNOWN


def test_rejects_say_why() -> None:
    arp = corpus()[0]
    recs = parse_batch([arp[:10], arp[:30], arp[:14] + b"\x00\x02" + arp[16:]])
    assert [r.reject for r in recs] == [Reject.TRUNCATED, Reject.TRUNCATED, Reject.UNKNOWN]
    bad_ihl = bytearray(corpus()[3])
    bad_ihl[14] = 0x43
    assert parse_batch([bytes(bad_ihl)])[0].reject is Reject.BAD_LENGTH


def test_packet_in_metadata_is_carried() -> None:
    recs = parse_batch(corpus()[:2], [Meta(3, 1, 10), Meta(4, 2, 0)])
    assert [r.meta for r in recs] == [Meta(3, 1, 10), Meta(4, 2, 0)]
    with pytest.raises(FastPathError, match="1 metadata for 2 frames"):
        parse_batch(corpus()[:2], [Meta(3, 1, 10)])


def test_without_the_c_module_the_reference_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native_mod, "c_module", lambda: None)
    frames = corpus()
    assert list(native_mod.parse_batch(frames)) == ref_batch(frames)


def test_empty_batch_and_indexing() -> None:
    assert len(parse_batch([])) == 0
    batch = parse_batch(corpus())
    assert batch[-1] == list(batch)[-1]
    with pytest.raises(IndexError):
        batch[len(batch)]
