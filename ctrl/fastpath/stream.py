"""Packet-ins off the P4Runtime stream, many per call: the serialized StreamMessageResponse
messages gRPC hands over, decoded and their frames parsed in one C call (ext/fp_punt.h).

    decoder = PacketInDecoder(MetaSpec.of(fields))     # (id, name, bitwidth) of packet_in
    batch = decoder.decode(messages)                   # bytes, as they came off the stream
    batch = decoder.decode_joined(Joined(data, lens))  # or end to end, as the C stream hands them
    batch.records.column("arp.sha"), batch.frame(i)    # one record per message

No Python object is made per message: the records stay in C memory until read. A
message in a shape the C reader leaves to protobuf (a field written twice, ...) is
decoded by protobuf, written again as protobuf writes it and read again; one that is
no PacketIn, or whose metadata the P4Info does not allow (an unknown id, an empty
value, one wider than its field), has an all-zero record without metadata, which the
quiet filter counts as malformed, and is counted in `bad`. stream_ref.py is the same
on protobuf and the Python parser.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError

from ctrl.fastpath import stream_ref
from ctrl.fastpath.columns import Records
from ctrl.fastpath.errors import FrameError, NativeError
from ctrl.fastpath.native import Backend, Native, select
from ctrl.fastpath.parse import RecordBatch
from ctrl.p4rt.proto import p4r

MSG_PACKET, MSG_OTHER, MSG_BAD_META = 0, 1, 2
SLOTS = {"ingress_port": 0, "reason": 1, "vnet_id": 2}   # enum fp_meta_slot
SLOT_NONE = 255
_MAX_FIELDS = 16


@dataclass(frozen=True, slots=True)
class MetaSpec:
    """The packet_in header's fields as the P4Info has them: (id, name, bitwidth)."""

    fields: tuple[tuple[int, str, int], ...]

    @classmethod
    def of(cls, fields: Iterable[tuple[int, str, int]]) -> MetaSpec:
        spec = cls(tuple(fields))
        if len(spec.fields) > _MAX_FIELDS:
            raise FrameError(f"{len(spec.fields)} packet_in metadata fields; at most 16")
        for _id, name, width in spec.fields:
            if not 1 <= width <= 64:
                raise FrameError(f"packet_in.{name}: bitwidth {width} (1..64 only)")
        return spec

    def by_id(self) -> dict[int, tuple[str, int]]:
        return {fid: (name, width) for fid, name, width in self.fields}


@dataclass(frozen=True, slots=True)
class Joined:
    """Serialized messages end to end in one buffer, with each one's length: how the
    stream read in C (ctrl/p4rt/cstream.py) hands packet-ins over, no bytes per message."""

    data: bytes
    lens: array[int]

    @classmethod
    def of(cls, messages: Sequence[bytes]) -> Joined:
        try:
            data = b"".join(messages)
        except TypeError as exc:
            raise FrameError(f"messages must be bytes: {exc}") from None
        return cls(data, array("I", map(len, messages)))

    def __len__(self) -> int:
        return len(self.lens)

    def parts(self, size: int) -> Iterator[Joined]:
        """This in order, at most `size` messages a part (itself when it is no more)."""
        if len(self.lens) <= size:
            yield self
            return
        pos = 0
        for i in range(0, len(self.lens), size):
            lens = self.lens[i:i + size]
            end = pos + sum(lens)
            yield Joined(self.data[pos:end], lens)
            pos = end

    def split(self) -> list[bytes]:
        out, pos, data = [], 0, self.data
        for n in self.lens:
            out.append(data[pos:pos + n])
            pos += n
        return out


class PuntBatch:
    """The packet-ins of one batch: a record per message (meta set for every PacketIn
    read whole), each frame where it lies, and how many were no good."""

    __slots__ = ("_frames", "bad", "received", "records")

    def __init__(self, records: Records, frames: Any, bad: int) -> None:
        self.records = records
        self._frames = frames   # RecordBatch (frames inside the messages) or a list
        self.bad = bad          # no PacketIn, or metadata the P4Info does not allow
        self.received = 0.0     # when its first packet-in came (time.monotonic()), if told

    def __len__(self) -> int:
        return len(self.records)

    def frame(self, i: int) -> bytes:
        if isinstance(self._frames, RecordBatch):
            return self._frames.frame(i)
        frame: bytes = self._frames[i]
        return frame


class PacketInDecoder:
    """Decodes batch after batch for one P4Info's packet_in header."""

    __slots__ = ("_c_spec", "_native", "spec")

    def __init__(self, spec: MetaSpec, backend: Backend = Backend.AUTO) -> None:
        self.spec = spec
        self._native = select(backend)
        self._c_spec: Any = None
        if self._native is not None:
            n = len(spec.fields)
            self._c_spec = self._native.ffi.new("fp_meta_spec *", {
                "n": n,
                "id": [fid for fid, _, _ in spec.fields],
                "bitwidth": [w for _, _, w in spec.fields],
                "slot": [SLOTS.get(name, SLOT_NONE) for _, name, _ in spec.fields]})

    @property
    def native(self) -> bool:
        return self._native is not None

    def decode(self, messages: Sequence[bytes]) -> PuntBatch:
        return self.decode_joined(Joined.of(messages))

    def decode_joined(self, joined: Joined) -> PuntBatch:
        if self._native is None:
            records, frames, bad = stream_ref.decode(joined.split(), self.spec.by_id())
            return PuntBatch(records, frames, bad)
        batch, status = self._decode_native(self._native, joined)
        if MSG_OTHER in status:   # rare: protobuf reads them, written as protobuf writes
            fixed = [_canonical(m) if s == MSG_OTHER else m
                     for m, s in zip(joined.split(), status, strict=True)]
            batch, status = self._decode_native(self._native, Joined.of(fixed))
        return PuntBatch(batch, batch, len(status) - status.count(MSG_PACKET))

    def _decode_native(self, native: Native, joined: Joined) -> tuple[RecordBatch, bytes]:
        data, lens = joined.data, joined.lens
        if len(data) >= 1 << 32:
            raise FrameError(f"{len(data)} bytes of messages in one batch; at most 4 GiB")
        if sum(lens) != len(data):
            raise FrameError(f"message lengths add up to {sum(lens)}, not {len(data)} bytes")
        n = len(lens)
        ffi = native.ffi
        out = native.alloc_records("fp_record[]", max(n, 1))
        starts = array("I", bytes(4 * n))
        status = bytearray(n)
        rc = native.lib.fp_packet_ins(
            ffi.from_buffer("uint8_t[]", data), len(data), ffi.from_buffer("uint32_t[]", lens),
            n, self._c_spec, out,
            ffi.from_buffer("uint32_t[]", starts, require_writable=True),
            ffi.from_buffer("uint8_t[]", status, require_writable=True))
        if rc != 0:
            raise NativeError(f"fp_packet_ins returned {rc} for {n} messages")
        return RecordBatch(native, data, lens, out, starts), bytes(status)


def _canonical(message: bytes) -> bytes:
    """The message as protobuf reads and writes it, or b"" (no PacketIn: not one)."""
    try:
        msg = p4r.StreamMessageResponse.FromString(message)
    except DecodeError:
        return b""
    if msg.WhichOneof("update") != "packet":
        return b""
    # Only what protobuf read: the unknown fields it keeps are left behind.
    pin = msg.packet
    clean = p4r.PacketIn(payload=pin.payload, metadata=[
        p4r.PacketMetadata(metadata_id=m.metadata_id, value=m.value) for m in pin.metadata])
    return p4r.StreamMessageResponse(packet=clean).SerializeToString()
