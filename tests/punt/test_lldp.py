from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from scapy.contrib.lldp import LLDPDU, LLDPDUChassisID, LLDPDUPortID  # noqa: F401
from scapy.layers.l2 import Ether

from ctrl.punt.lldp import build_lldp, parse_lldp


def test_round_trip_and_scapy_reads_it() -> None:
    frame = build_lldp("s1", 7, b"\x02\x00\x00\x00\x00\xfe", ttl=30)
    info = parse_lldp(frame)
    assert info is not None and (info.chassis, info.port, info.ttl) == ("s1", 7, 30)
    pkt = Ether(frame)
    assert pkt.dst == "01:80:c2:00:00:0e" and pkt.type == 0x88CC
    assert pkt[LLDPDUChassisID].id == b"s1"
    assert pkt[LLDPDUPortID].id == b"7"


def test_truncated_or_foreign_frames_are_none() -> None:
    frame = build_lldp("s1", 7, b"\x02\x00\x00\x00\x00\xfe")
    assert parse_lldp(frame[:20]) is None
    assert parse_lldp(frame[:12] + b"\x08\x00" + frame[14:]) is None


@given(st.binary(max_size=100))
def test_any_bytes_never_raise(data: bytes) -> None:
    parse_lldp(b"\x01\x80\xc2\x00\x00\x0e" + b"\x02" * 6 + b"\x88\xcc" + data)
