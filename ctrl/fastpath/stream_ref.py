"""The reference of stream.py's decoder: protobuf reads each message, PacketIn.decode's
rules judge its metadata, the Python parser reads its frame (parse_ref.py).

Gives the same records as the C decoder: a PacketIn whose metadata the P4Info allows has
its frame's record with Meta; anything else an empty record (no parts, frame_len 0, no
meta), which the quiet filter and classify count as malformed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from google.protobuf.message import DecodeError

from ctrl.fastpath import parse_ref
from ctrl.fastpath.columns import RecordList
from ctrl.fastpath.records import Kind, Meta, Record, Reject
from ctrl.p4rt.proto import p4r

EMPTY = Record(Kind.OTHER, Reject.NONE, 0)
PORT_MAX, VNET_MAX = 511, 4095


def meta_of(msg: p4r.PacketIn, fields: Mapping[int, tuple[str, int]]) -> Meta | None:
    """The metadata of a PacketIn as PacketIn.decode reads them; None where it would
    refuse them (an unknown id, an empty value, a value wider than its field)."""
    values: dict[str, int] = {}
    for m in msg.metadata:
        field = fields.get(m.metadata_id)
        if field is None or not m.value:
            return None
        name, width = field
        value = int.from_bytes(m.value, "big")
        if value.bit_length() > width:
            return None
        values[name] = value
    port, reason, vnet = (values.get(k, 0) for k in ("ingress_port", "reason", "vnet_id"))
    if port > PORT_MAX or reason > 0xFF or vnet > VNET_MAX:
        return None
    return Meta(port, reason, vnet)


def decode(messages: Sequence[bytes], fields: Mapping[int, tuple[str, int]]
           ) -> tuple[RecordList, list[bytes], int]:
    """(records, frames, how many were no good) of serialized StreamMessageResponses."""
    records: list[Record] = []
    frames: list[bytes] = []
    bad = 0
    for data in messages:
        try:
            msg = p4r.StreamMessageResponse.FromString(data)
        except DecodeError:
            msg = None
        meta = None
        if msg is not None and msg.WhichOneof("update") == "packet":
            meta = meta_of(msg.packet, fields)
        if msg is None or meta is None:
            bad += 1
            records.append(EMPTY)
            frames.append(b"")
            continue
        frame = msg.packet.payload
        records.append(parse_ref.parse_batch([frame], [meta])[0])
        frames.append(frame)
    return RecordList(records), frames, bad
