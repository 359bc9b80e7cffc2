"""The stream's packet-ins decoded in C (ext/fp_punt.c) equal protobuf + the Python
parser (stream_ref.py) on every message: canonical, padded, oddly written, mutated,
random; metadata the P4Info does not allow is told apart, never guessed at."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctrl.fastpath import Backend, Record, native_available
from ctrl.fastpath.errors import FrameError
from ctrl.fastpath.stream import MSG_OTHER, MSG_PACKET, Joined, MetaSpec, PacketInDecoder
from ctrl.p4rt.proto import p4r
from tests.fastpath import frames as ff
from tests.fastpath.messages import message, mobility_spec

needs_c = pytest.mark.skipif(not native_available(), reason="the C fast path is not built here")
SPEC = mobility_spec()


def both(messages: list[bytes]) -> tuple[list[Record], int]:
    c = PacketInDecoder(SPEC, Backend.NATIVE).decode(messages)
    ref = PacketInDecoder(SPEC, Backend.REFERENCE).decode(messages)
    assert list(c.records) == list(ref.records)
    assert [c.frame(i) for i in range(len(c))] == [ref.frame(i) for i in range(len(ref))]
    assert c.bad == ref.bad
    return list(c.records), c.bad


def c_status(messages: list[bytes]) -> bytes:
    decoder = PacketInDecoder(SPEC, Backend.NATIVE)
    assert decoder._native is not None
    return decoder._decode_native(decoder._native, Joined.of(messages))[1]


@needs_c
def test_the_corpus_with_its_metadata() -> None:
    frames = ff.corpus()
    msgs = [message(f, i % 512, 1 + i % 5, i * 300 % 4096, padded=i % 2 == 1)
            for i, f in enumerate(frames)]
    records, bad = both(msgs)
    assert bad == 0
    assert [r.meta.in_port if r.meta else None for r in records] == list(range(len(frames)))
    assert [r.frame_len for r in records] == [len(f) for f in frames]
    assert c_status(msgs) == bytes(len(msgs))   # protobuf's own shape: no fall-back


@needs_c
@pytest.mark.parametrize("extra", [((9, b"\x01"),), ((5, b""),), ((1, b"\x02\x00"),),
                                   ((3, b"\x01\x00"),), ((2, b"\x80"),)],
                         ids=["unknown id", "empty value", "port over 9 bits",
                              "reason over 8 bits", "pad over 7 bits"])
def test_metadata_the_p4info_does_not_allow(extra: tuple[tuple[int, bytes], ...]) -> None:
    msgs = [message(ff.arp_frame(), 3, 1, 10), message(ff.arp_frame(), 3, 1, 10, extra=extra)]
    records, bad = both(msgs)
    assert bad == 1
    assert records[0].meta is not None and records[1].meta is None


@needs_c
def test_padded_values_and_the_last_of_a_field_win() -> None:
    msgs = [message(ff.arp_frame(), 3, 1, 10, extra=((1, b"\x00\x00\x00\x07"), (5, b"\x00\x05")))]
    [rec], bad = both(msgs)
    assert bad == 0 and rec.meta is not None
    assert (rec.meta.in_port, rec.meta.vnet_id) == (7, 5)


def _odd_shapes() -> list[bytes]:
    frame = ff.arp_frame()
    md = [p4r.PacketMetadata(metadata_id=1, value=b"\x03"),
          p4r.PacketMetadata(metadata_id=3, value=b"\x01"),
          p4r.PacketMetadata(metadata_id=5, value=b"\x0a")]
    pin = p4r.PacketIn(payload=frame, metadata=md).SerializeToString()
    body = b"".join(m.SerializeToString() for m in md)
    meta_first = b"".join(b"\x12" + bytes([len(x)]) + x
                          for x in (m.SerializeToString() for m in md))
    meta_first += b"\x0a" + bytes([len(frame)]) + frame
    def response(packet_in: bytes) -> bytes:
        return b"\x12" + _varint(len(packet_in)) + packet_in
    return [
        response(meta_first),                                     # metadata before payload
        response(b"\x0a\x02ab" + pin),                            # payload twice: last wins
        response(pin + b"\x18\x05"),                              # unknown varint field 3
        b"\x38\x01" + response(pin),                              # unknown field 7 first
        b"\x92\x00" + _varint(len(pin)) + pin,                    # tag padded (2 bytes)
        response(pin) + response(pin),                            # the packet twice: merged
        response(pin) + b"\x0a\x00",                              # then arbitration: not one
        b"\x0a\x00",                                              # arbitration alone
        response(pin)[:-3],                                       # cut
        b"\x12\x7f" + pin,                                        # a length past the end
        body,                                                     # no packet at all
    ]


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


@needs_c
def test_oddly_written_messages_are_read_as_protobuf_reads_them() -> None:
    msgs = _odd_shapes()
    records, bad = both(msgs)
    assert [r.meta is not None for r in records] == [True] * 6 + [False] * 5
    assert bad == 5
    # read in C, but for the packet written twice (protobuf merges the two): left to it
    assert list(c_status(msgs)[:6]) == [MSG_PACKET] * 5 + [MSG_OTHER]


metadata = st.lists(st.tuples(st.integers(0, 7), st.binary(max_size=3)), max_size=5)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    frame = draw(ff.any_frames())
    md = [p4r.PacketMetadata(metadata_id=i, value=v) for i, v in draw(metadata)]
    data = bytearray(p4r.StreamMessageResponse(
        packet=p4r.PacketIn(payload=frame, metadata=md)).SerializeToString())
    for _ in range(draw(st.integers(0, 3))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        del data[draw(st.integers(0, len(data))):]
    return bytes(data)


@needs_c
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages() | st.binary(max_size=40), min_size=1, max_size=12))
def test_c_equals_reference_on_random_messages(msgs: list[bytes]) -> None:
    both(msgs)


@needs_c
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(ff.any_frames(), st.integers(0, 511), st.integers(0, 255),
                          st.integers(0, 4095), st.booleans()), min_size=1, max_size=8))
def test_protobufs_own_messages_take_no_fall_back(
        rows: list[tuple[bytes, int, int, int, bool]]) -> None:
    msgs = [message(f, p, r, v, padded=pad) for f, p, r, v, pad in rows]
    both(msgs)
    assert set(c_status(msgs)) <= {MSG_PACKET}


def test_a_spec_with_a_field_too_wide_is_refused() -> None:
    with pytest.raises(FrameError, match="bitwidth 65"):
        MetaSpec.of([(1, "ingress_port", 65)])


@pytest.mark.parametrize("backend", [pytest.param(Backend.NATIVE, marks=needs_c),
                                     Backend.REFERENCE])
def test_empty_batch(backend: Backend) -> None:
    batch = PacketInDecoder(SPEC, backend).decode([])
    assert len(batch) == 0 and batch.bad == 0


def test_joined_parts_keep_every_message_in_order() -> None:
    messages = [bytes([i % 256]) * (i % 7) for i in range(2500)]
    joined = Joined.of(messages)
    parts = list(joined.parts(1024))
    assert [len(p) for p in parts] == [1024, 1024, 452]
    assert [m for p in parts for m in p.split()] == messages
    small = Joined.of(messages[:10])
    assert list(small.parts(1024)) == [small]
