"""P4Runtime WriteRequests to test the Write decoder with (ext/fp_p4rt.c, ctrl/fastpath/p4rt*.py).

- `write_requests(schema)`: p4.v1 messages from random entries of a P4Info: good
  ones, and ones with wrong ids, missing, duplicate, empty or too wide values,
  priorities, default entries, and every entity or field the fast path leaves to
  protobuf (multicast groups, ternary matches, action profiles, counter data...).
- `parse` / `encode`: a request's wire format as a tree of fields, and back;
  `mutated_trees` changes such a tree the ways protobuf reads but never writes
  (fields out of order or repeated, unknown fields, zero scalars, padded varints,
  other wire types), `mutated_bytes` breaks the bytes themselves.

Used by tests/fastpath/test_p4rt.py, bench/bench_p4rt_decode.py and the fuzzer's
seeds (ext/fuzz/seeds_p4rt.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import cast

from hypothesis import strategies as st

from ctrl.p4rt.proto import p4r
from ctrl.p4rt.schema import P4Schema, P4Table

VARINT, I64, LEN, I32 = 0, 1, 2, 5


@dataclass(frozen=True)
class Field:
    """One field on the wire: a varint, fixed or bytes value, or a message (a tuple of
    fields). Pads are extra varint bytes protobuf reads but never writes."""

    num: int
    wt: int
    value: int | bytes | tuple[Field, ...]
    tag_pad: int = 0
    pad: int = 0   # of the varint value, or of the length


def varint(value: int, pad: int = 0) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        out.append(value & 0x7F | 0x80)
        value >>= 7
        if not value:
            break
    out.extend([0x80] * pad)
    out[-1] &= 0x7F
    return bytes(out)


def encode(fields: tuple[Field, ...]) -> bytes:
    out = bytearray()
    for f in fields:
        out += varint(f.num << 3 | f.wt, f.tag_pad)
        if f.wt == VARINT:
            assert isinstance(f.value, int)
            out += varint(f.value, f.pad)
        elif f.wt in (I64, I32):
            assert isinstance(f.value, int)
            out += f.value.to_bytes(8 if f.wt == I64 else 4, "little")
        else:
            assert not isinstance(f.value, int)
            body = f.value if isinstance(f.value, bytes) else encode(f.value)
            out += varint(len(body), f.pad) + body
    return bytes(out)


# Which length-delimited fields are messages (of which type) rather than bytes.
MESSAGES = {
    ("WriteRequest", 3): "Uint128", ("WriteRequest", 4): "Update",
    ("Update", 2): "Entity", ("Entity", 2): "TableEntry",
    ("Entity", 9): "PacketReplicationEngineEntry",
    ("TableEntry", 2): "FieldMatch", ("TableEntry", 3): "TableAction",
    ("TableEntry", 7): "CounterData",
    ("FieldMatch", 2): "Exact", ("FieldMatch", 3): "Ternary",
    ("TableAction", 1): "Action", ("Action", 4): "Param",
}


def _varint_at(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[pos]
        value |= (b & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not b & 0x80:
            return value, pos


def parse(data: bytes, message: str = "WriteRequest") -> tuple[Field, ...]:
    """Well-formed protobuf bytes of `message` as a tree (messages of MESSAGES opened)."""
    out, pos = [], 0
    while pos < len(data):
        tag, pos = _varint_at(data, pos)
        num, wt = tag >> 3, tag & 7
        value: int | bytes | tuple[Field, ...]
        if wt == VARINT:
            value, pos = _varint_at(data, pos)
        elif wt in (I64, I32):
            size = 8 if wt == I64 else 4
            value, pos = int.from_bytes(data[pos:pos + size], "little"), pos + size
        else:
            size, pos = _varint_at(data, pos)
            value, pos = data[pos:pos + size], pos + size
            if (message, num) in MESSAGES:
                value = parse(value, MESSAGES[message, num])
        out.append(Field(num, wt, value))
    return tuple(out)


# Entries of a P4Info, as p4.v1 messages.

Pairs = tuple[tuple[int, bytes], ...]


def entry(table_id: int, match: Pairs, action_id: int | None, params: Pairs = (), *,
          priority: int = 0, is_default: bool = False) -> p4r.TableEntry:
    """A TableEntry of exact matches (field id, value) and a direct action, or none."""
    te = p4r.TableEntry(table_id=table_id, priority=priority, is_default_action=is_default)
    for fid, value in match:
        te.match.add(field_id=fid, exact=p4r.FieldMatch.Exact(value=value))
    if action_id is not None:
        te.action.action.action_id = action_id
        for pid, value in params:
            te.action.action.params.add(param_id=pid, value=value)
    return te



@st.composite
def _value(draw: st.DrawFn, bitwidth: int) -> bytes:
    kind = draw(st.sampled_from(["fits"] * 8 + ["wide", "empty", "zeros", "long"]))
    if kind == "empty":
        return b""
    if kind == "long":
        return draw(st.binary(min_size=9, max_size=16))
    if kind == "wide":
        value = draw(st.integers(1 << bitwidth, (1 << bitwidth) * 4))
    else:
        value = draw(st.integers(0, (1 << bitwidth) - 1))
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return bytes(draw(st.integers(1, 3))) + raw if kind == "zeros" else raw


def _ids(draw: st.DrawFn, known: list[int]) -> list[int]:
    """Known ids in P4Info order, sometimes one dropped, repeated, unknown or shuffled."""
    ids = list(known)
    if ids and draw(st.integers(0, 9)) == 0:
        ids.pop(draw(st.integers(0, len(ids) - 1)))
    if ids and draw(st.integers(0, 9)) == 0:
        ids.append(draw(st.sampled_from(ids)))
    if draw(st.integers(0, 14)) == 0:
        ids.append(draw(st.sampled_from([0, 99, 1 << 31])))
    if draw(st.integers(0, 4)) == 0:
        ids = draw(st.permutations(ids))
    return ids


@st.composite
def table_entries(draw: st.DrawFn, schema: P4Schema) -> p4r.TableEntry:
    tables = list(schema.tables)
    table: P4Table = draw(st.sampled_from(tables))
    msg = p4r.TableEntry(table_id=table.id if draw(st.integers(0, 19)) else 12345)
    default = draw(st.integers(0, 9)) == 0
    msg.is_default_action = default
    if not default or draw(st.integers(0, 3)) == 0:
        fields = {f.id: f for f in table.match_fields}
        for fid in _ids(draw, list(fields)):
            width = fields[fid].bitwidth if fid in fields else 16
            msg.match.add(field_id=fid, exact=p4r.FieldMatch.Exact(value=draw(_value(width))))
    if draw(st.integers(0, 14)) == 0:
        msg.priority = draw(st.integers(-(1 << 31), (1 << 31) - 1))
    if draw(st.integers(0, 7)) == 0:
        return msg  # no action
    actions = [r.action for r in table.action_refs]
    if draw(st.integers(0, 14)) == 0:
        actions = list(schema.actions)
    action = draw(st.sampled_from(actions))
    act = msg.action.action
    act.action_id = action.id if draw(st.integers(0, 29)) else 777
    params = {p.id: p for p in action.params}
    for pid in _ids(draw, list(params)):
        width = params[pid].bitwidth if pid in params else 16
        act.params.add(param_id=pid, value=draw(_value(width)))
    return msg


def _slow_entity(kind: str, entry: p4r.TableEntry) -> p4r.Entity:
    """An entity, or a table entry with something the fast path leaves to protobuf."""
    if kind == "group":
        group = p4r.MulticastGroupEntry(multicast_group_id=3)
        group.replicas.add(egress_port=2, instance=1)
        return p4r.Entity(packet_replication_engine_entry=p4r.PacketReplicationEngineEntry(
            multicast_group_entry=group))
    if kind == "counter":
        return p4r.Entity(counter_entry=p4r.CounterEntry(counter_id=9))
    te = p4r.TableEntry()
    te.CopyFrom(entry)
    if kind == "ternary":
        te.match.add(field_id=1, ternary=p4r.FieldMatch.Ternary(value=b"\x01", mask=b"\x0f"))
    elif kind == "lpm":
        te.match.add(field_id=1, lpm=p4r.FieldMatch.LPM(value=b"\x01", prefix_len=8))
    elif kind == "member":
        te.action.action_profile_member_id = 5
    elif kind == "counter_data":
        te.counter_data.packet_count = 1
    elif kind == "meter":
        te.meter_config.cir = 10
    elif kind == "metadata":
        te.metadata = b"cookie"
    elif kind == "idle":
        te.idle_timeout_ns = 1000
    return p4r.Entity(table_entry=te)


SLOW_KINDS = ("group", "counter", "ternary", "lpm", "member", "counter_data", "meter",
              "metadata", "idle")


@st.composite
def updates(draw: st.DrawFn, schema: P4Schema) -> p4r.Update:
    kind = draw(st.sampled_from(["entry"] * 12 + list(SLOW_KINDS) + ["none"]))
    entry = draw(table_entries(schema))
    utype = draw(st.sampled_from([1, 1, 1, 2, 3, 0] + [7] * (draw(st.integers(0, 9)) == 0)))
    if kind == "none":
        return p4r.Update(type=cast("p4r.Update.Type", utype))
    entity = p4r.Entity(table_entry=entry) if kind == "entry" else _slow_entity(kind, entry)
    return p4r.Update(type=cast("p4r.Update.Type", utype), entity=entity)


@st.composite
def write_requests(draw: st.DrawFn, schema: P4Schema, max_updates: int = 8,
                   header: tuple[int, int] | None = None) -> p4r.WriteRequest:
    """Requests of every kind; `header` (device id, election id): all to that device
    from that primary, CONTINUE_ON_ERROR, default role."""
    if header is not None:
        req = p4r.WriteRequest(device_id=header[0],
                               election_id=p4r.Uint128(high=0, low=header[1]))
    else:
        req = p4r.WriteRequest(device_id=draw(st.integers(0, (1 << 64) - 1)),
                               role_id=draw(st.sampled_from([0, 0, 5])),
                               role=draw(st.sampled_from(["", "", "sdn", "ρόλος"])),
                               atomicity=cast("p4r.WriteRequest.Atomicity",
                                              draw(st.sampled_from([0, 0, 1, 2, 7, -1]))))
        if draw(st.booleans()):
            req.election_id.high = draw(st.integers(0, (1 << 64) - 1))
            req.election_id.low = draw(st.integers(0, (1 << 64) - 1))
    req.updates.extend(draw(st.lists(updates(schema), max_size=max_updates)))
    return req


# Changes the way protobuf reads but never writes, and plain broken bytes.


def _mutate(fields: tuple[Field, ...], rnd: random.Random, message: str) -> tuple[Field, ...]:
    out = list(fields)
    for i, f in enumerate(out):  # into the messages below, one in three
        if isinstance(f.value, tuple) and (message, f.num) in MESSAGES and rnd.random() < 0.35:
            out[i] = replace(f, value=_mutate(f.value, rnd, MESSAGES[message, f.num]))
    if rnd.random() < 0.5:
        return tuple(out)
    how = rnd.randrange(9)
    i = rnd.randrange(len(out)) if out else 0
    value = out[i].value if out else None
    if how == 0 and len(out) > 1:                           # two fields swapped
        j = rnd.randrange(len(out))
        out[i], out[j] = out[j], out[i]
    elif how == 1 and out:                                  # a field again
        out.insert(rnd.randrange(len(out) + 1), out[i])
    elif how == 2 and out:                                  # a field gone
        out.pop(i)
    elif how == 3:                                          # an unknown field
        num = rnd.choice([9, 13, 15, 16, 31, 100, 536870911])
        wt = rnd.choice([VARINT, I64, LEN, I32])
        extra: int | bytes = rnd.randrange(1 << 20) if wt != LEN else bytes(rnd.randrange(4))
        out.insert(rnd.randrange(len(out) + 1), Field(num, wt, extra))
    elif how == 4 and isinstance(value, int) and out[i].wt == VARINT:  # another value
        out[i] = replace(out[i], value=rnd.choice([0, 1, 4, 1 << 32, (1 << 64) - 1,
                                                   value | 1 << 40]))
    elif how == 5 and out:                                  # padded varints
        out[i] = replace(out[i], pad=rnd.randrange(1, 3) * (out[i].wt in (VARINT, LEN)),
                         tag_pad=rnd.randrange(2))
    elif how == 6 and isinstance(value, int) and out[i].wt == VARINT:  # another wire type
        out[i] = replace(out[i], wt=LEN, value=varint(value))
    elif how == 7 and isinstance(value, bytes):             # other bytes
        out[i] = replace(out[i], value=rnd.choice([b"", bytes(9), b"\x00" + value]))
    elif how == 8:                                          # an empty message of a field
        out.insert(rnd.randrange(len(out) + 1), Field(rnd.randrange(1, 13), LEN, ()))
    return tuple(out)


@st.composite
def mutated_trees(draw: st.DrawFn, schema: P4Schema,
                  header: tuple[int, int] | None = None) -> bytes:
    """A request changed as protobuf allows: mostly well formed, often not canonical."""
    tree = parse(draw(write_requests(schema, header=header)).SerializeToString())
    return encode(_mutate(tree, draw(st.randoms(use_true_random=False)), "WriteRequest"))


@st.composite
def mutated_bytes(draw: st.DrawFn, schema: P4Schema,
                  header: tuple[int, int] | None = None) -> bytes:
    """A request with bytes flipped, inserted, cut out or cut off; `header`: as
    write_requests'."""
    data = bytearray(draw(write_requests(schema, 4, header)).SerializeToString())
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.integers(0, 3))
        at = draw(st.integers(0, len(data)))
        if how == 0 and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif how == 1:
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif how == 2:
            del data[at:at + draw(st.integers(1, 4))]
        else:
            del data[at:]
    return bytes(data)
