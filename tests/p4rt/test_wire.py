"""The WriteRequest encoder: byte for byte what protobuf serializes of the same updates, or
the same error, on random updates of mobility.p4's P4Info and of one with wider fields, in
Python and with its common updates made in C (ctrl/fastpath/p4rt_encode.py, where built);
the common entries never fall back to protobuf."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctrl.fastpath import native_available
from ctrl.fastpath.native import Backend
from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.p4rt.entity import (
    CounterData,
    MulticastGroupEntry,
    Replica,
    TableEntry,
    Update,
    UpdateType,
)
from ctrl.p4rt.proto import p4i, p4r
from ctrl.p4rt.schema import P4Schema, P4Table
from ctrl.p4rt.wire import WriteEncoder, varint

MOBILITY = P4Schema.load(BuildPaths(project_root()).p4info)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_new, _set = object.__new__, object.__setattr__


def _wide_p4info() -> p4i.P4Info:
    """Widths from 1 bit to 17,500 bytes (lengths of one to three varint bytes), ids from 0
    to 2^32-1, ids out of declaration order, aliases that are other actions' names, every
    action scope, a table without match fields and tables the encoder leaves to protobuf."""
    info = p4i.P4Info()

    def action(aid: int, name: str, alias: str, params: Sequence[tuple[int, int]]) -> None:
        a = info.actions.add()
        a.preamble.id, a.preamble.name, a.preamble.alias = aid, name, alias
        for pid, bits in params:
            a.params.add(id=pid, name=f"p{pid}", bitwidth=bits)

    action(0x01000001, "c.set_all", "set_all",
           [(3, 1), (1, 48), (2, 1024), (0, 8), (200, 140_000), (0xFFFFFFFF, 9)])
    action(0x01000002, "c.nop", "nop", [])
    action(0x01000003, "set_all", "c.only_default", [(1, 16)])  # its name: another's alias
    action(0x7FFFFFFF, "c.wide", "wide", [(1, 4096), (2, 64), (3, 65)])

    def table(tid: int, name: str, fields: Sequence[tuple[int, int, int]],
              refs: Sequence[tuple[int, int]]) -> None:
        t = info.tables.add()
        t.preamble.id, t.preamble.name, t.preamble.alias = tid, name, name.split(".")[-1]
        for fid, bits, kind in fields:
            t.match_fields.add(id=fid, name=f"f{fid}", bitwidth=bits, match_type=kind)
        for aid, scope in refs:
            t.action_refs.add(id=aid, scope=scope)

    exact, ternary, lpm = p4i.MatchField.EXACT, p4i.MatchField.TERNARY, p4i.MatchField.LPM
    both, entries, default = (p4i.ActionRef.TABLE_AND_DEFAULT, p4i.ActionRef.TABLE_ONLY,
                              p4i.ActionRef.DEFAULT_ONLY)
    all_actions = [(0x01000001, both), (0x01000002, entries), (0x01000003, default),
                   (0x7FFFFFFF, both)]
    table(0xFFFFFFFF, "c.wide",
          [(9, 1, exact), (1, 7, exact), (128, 8, exact), (2, 9, exact), (16384, 64, exact),
           (3, 65, exact), (4, 128, exact), (5, 1000, exact), (6, 2048, exact),
           (0xFFFFFFFF, 12, exact)], all_actions)
    table(1, "c.keyless", [], all_actions)
    table(0x02000003, "c.zero_field", [(0, 16, exact)], [(0x01000002, both)])
    table(0x02000004, "c.ternary", [(1, 16, exact), (2, 32, ternary)], all_actions)
    table(0x02000005, "c.lpm", [(1, 32, lpm)], all_actions)
    return info


WIDE = P4Schema(_wide_p4info())
SCHEMAS = {"mobility": MOBILITY, "wide": WIDE}


# Random updates: mostly what a controller writes, sometimes anything encode() refuses or
# leaves unusual, made without the constructors' checks where they would refuse it.


def _entry(**fields: object) -> TableEntry:
    e = _new(TableEntry)
    defaults: dict[str, object] = {"table": "", "match": {}, "action": "", "params": {},
                                   "priority": 0, "is_default": False, "counter": None}
    for name, value in (defaults | fields).items():
        _set(e, name, value)
    return e


@st.composite
def _int(draw: st.DrawFn, bits: int) -> int:
    """An int of the width, at its edges or anywhere (big widths from random bytes)."""
    top = (1 << bits) - 1
    kind = draw(st.sampled_from(["any"] * 6 + ["zero", "top", "short"]))
    if kind == "zero":
        return 0
    if kind == "top":
        return top
    if kind == "short":
        return draw(st.integers(0, min(top, 255)))
    raw = draw(st.binary(max_size=(bits + 7) // 8))
    return (int.from_bytes(raw) >> draw(st.integers(0, 7))) & top


@st.composite
def _odd(draw: st.DrawFn, bits: int) -> object:
    """A value encode() refuses or converts: too wide, negative, a bool, a str."""
    return draw(st.sampled_from([1 << bits, (1 << bits) + 5, -1, True, "7", b"\x01", 1.0,
                                 None]))


@st.composite
def _values(draw: st.DrawFn, items: Sequence[tuple[str, int]], good: bool) -> dict[str, object]:
    """Values of these fields; unless `good`, some odd, one missing or one too many."""
    out: dict[str, object] = {
        name: draw(_odd(bits) if not good and draw(st.integers(0, 3)) == 0 else _int(bits))
        for name, bits in items}
    if not good and items and draw(st.integers(0, 5)) == 0:
        out.pop(draw(st.sampled_from([name for name, _ in items])))
    if not good and draw(st.integers(0, 5)) == 0:
        out["nonesuch"] = 1
    return out


@st.composite
def table_entries(draw: st.DrawFn, schema: P4Schema, good: bool = False) -> TableEntry:
    """An entry of one of the schema's tables: with `good`, one the encoder covers."""
    tables = [t for t in schema.tables if not good or _covered(t)]
    table: P4Table = draw(st.sampled_from(tables))
    bad = not good and draw(st.integers(0, 2)) == 0  # one thing wrong, or unusual
    refs = [r for r in table.action_refs if r.allowed_in_entries or bad]
    ref = draw(st.sampled_from(refs))
    name = draw(st.sampled_from([table.name, table.alias]))
    action = draw(st.sampled_from([ref.action.name, ref.action.alias]))
    fields = [(f.name, f.bitwidth) for f in table.match_fields]
    params = [(p.name, p.bitwidth) for p in ref.action.params]
    what = draw(st.integers(0, 8)) if bad else -1
    entry = _entry(table=name, match=draw(_values(fields, what != 0)), action=action,
                   params=draw(_values(params, what != 1)))
    if what == 2:
        _set(entry, "table", draw(st.sampled_from(["nonesuch", table.id, ""])))
    elif what == 3:
        _set(entry, "action", draw(st.sampled_from(["", "nonesuch", ref.action.id,
                                                    *(a.name for a in schema.actions)])))
    elif what == 4:
        _set(entry, "priority", draw(st.sampled_from([1, 7, -3, (1 << 31) - 1, 1 << 31, 0.0])))
    elif what == 5:
        _set(entry, "is_default", True)
        if draw(st.booleans()):
            _set(entry, "match", {})
        if draw(st.booleans()):
            _set(entry, "action", "")
            _set(entry, "params", {})
    elif what == 6:
        _set(entry, "counter", CounterData(draw(st.integers(0, 9)), 0))
    elif what == 7:
        _set(entry, "match", tuple(entry.match.items()))  # not a dict
    return entry


def _covered(table: P4Table) -> bool:
    return all(f.kind.name == "EXACT" for f in table.match_fields) and any(
        r.allowed_in_entries for r in table.action_refs)


_U32 = (1 << 32) - 1


@st.composite
def groups(draw: st.DrawFn, good: bool = False) -> MulticastGroupEntry:
    if good or draw(st.integers(0, 5)):
        ints = st.one_of(st.integers(0, 3), st.integers(0, _U32), st.just(_U32))
        replicas = draw(st.lists(st.builds(Replica, ints, ints), max_size=6))
        return MulticastGroupEntry(draw(st.integers(1, _U32)), tuple(replicas))
    group = _new(MulticastGroupEntry)  # what __post_init__ refuses
    bad = st.sampled_from([0, 1 << 32, -1, True])
    _set(group, "group_id", draw(st.one_of(bad, st.integers(1, 9))))
    _set(group, "replicas", (Replica(draw(st.one_of(bad, st.just(2))), draw(bad)),))
    return group


@st.composite
def updates(draw: st.DrawFn, schema: P4Schema, good: bool = False) -> Update:
    entity: TableEntry | MulticastGroupEntry
    if draw(st.integers(0, 7)) == 0:
        entity = draw(groups(good))
    else:
        entity = draw(table_entries(schema, good))
    return Update(draw(st.sampled_from(list(UpdateType))), entity)


@st.composite
def headers(draw: st.DrawFn) -> dict[str, object]:
    u64 = st.one_of(st.integers(0, 3), st.integers(0, (1 << 64) - 1))
    election = st.one_of(st.none(), st.tuples(u64, u64))
    return {"device_id": draw(u64), "election_id": draw(election),
            "atomicity": draw(st.sampled_from([0, 1, 2, 3, 7, -1, (1 << 31) - 1])),
            "role": draw(st.sampled_from(["", "sdn", "ρόλος"]))}


def reference(schema: P4Schema, ups: Sequence[Update], device_id: int,
              election_id: tuple[int, int] | None, atomicity: int = 0, role: str = "") -> bytes:
    """What P4Client sent before: the messages of encode(), serialized by protobuf."""
    req = p4r.WriteRequest(device_id=device_id, role=role,
                           atomicity=cast("p4r.WriteRequest.Atomicity", atomicity))
    if election_id is not None:
        req.election_id.CopyFrom(p4r.Uint128(high=election_id[0], low=election_id[1]))
    req.updates.extend(u.encode(schema) for u in ups)
    return bytes(req.SerializeToString())


def _protobuf(schema: P4Schema, u: Update) -> bytes:
    return bytes(u.encode(schema).SerializeToString())


def outcome(call: Callable[[], bytes]) -> bytes | tuple[type[BaseException], str]:
    try:
        return call()
    except Exception as exc:
        return type(exc), str(exc)


# The same bytes, or the same error


BACKENDS = [Backend.REFERENCE, pytest.param(Backend.NATIVE, marks=pytest.mark.skipif(
    not native_available(), reason="the C fast path is not built here"))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", SCHEMAS)
@SETTINGS
@given(data=st.data())
def test_any_updates_give_protobufs_bytes_or_its_error(name: str, backend: Backend,
                                                       data: st.DataObject) -> None:
    schema = SCHEMAS[name]
    ups = data.draw(st.lists(updates(schema), max_size=6))
    header = data.draw(headers())
    enc = WriteEncoder(schema, backend)
    want = outcome(lambda: reference(schema, ups, **header))  # type: ignore[arg-type]
    assert outcome(lambda: enc.request(ups, **header)) == want  # type: ignore[arg-type]
    for u in ups:
        assert outcome(partial(enc.update, u)) == outcome(partial(_protobuf, schema, u))


@pytest.mark.parametrize("name", SCHEMAS)
@SETTINGS
@given(data=st.data())
def test_the_common_updates_never_fall_back(name: str, data: st.DataObject) -> None:
    schema = SCHEMAS[name]
    enc = WriteEncoder(schema)
    for u in data.draw(st.lists(updates(schema, good=True), min_size=1, max_size=4)):
        fast = enc.fast_update(u)
        assert fast is not None, u
        assert fast == u.encode(schema).SerializeToString()


def test_every_table_and_action_of_mobility_p4_is_covered() -> None:
    enc = WriteEncoder(MOBILITY)
    for table in MOBILITY.tables:
        for ref in table.action_refs:
            entry = TableEntry(table.name, {f.name: 0 for f in table.match_fields},
                               ref.action.name, {p.name: 1 for p in ref.action.params})
            fast = enc.fast_update(Update(UpdateType.MODIFY, entry))
            assert (fast is not None) == ref.allowed_in_entries, (table.name, ref.action.name)


def test_values_are_canonical_and_zero_is_one_byte() -> None:
    entry = TableEntry("punt", {"ether_type": 0x0806, "ip_proto": 0, "l4_dst_port": 0},
                       "punt.to_cpu", {"reason": 1})
    data = WriteEncoder(MOBILITY).update(Update(UpdateType.INSERT, entry))
    te = p4r.Update.FromString(data).entity.table_entry
    assert sorted(m.exact.value for m in te.match) == [b"\x00", b"\x00", b"\x08\x06"]


def test_a_bridging_insert_to_the_byte() -> None:
    entry = TableEntry("bridging", {"vnet_id": 10, "eth_dst": "02:00:00:00:00:0b"},
                       "bridging.forward", {"port": 2})
    table, action = MOBILITY.tables["bridging"], MOBILITY.actions["bridging.forward"]
    act = b"\x08" + varint(action.id) + b"\x22\x05\x10\x01\x1a\x01\x02"
    te = (b"\x08" + varint(table.id)
          + b"\x12\x07\x08\x01\x12\x03\x0a\x01\x0a"
          + b"\x12\x0c\x08\x02\x12\x08\x0a\x06\x02\x00\x00\x00\x00\x0b"
          + b"\x1a" + bytes([len(act) + 2]) + b"\x0a" + bytes([len(act)]) + act)
    update = b"\x08\x01\x12" + bytes([len(te) + 2]) + b"\x12" + bytes([len(te)]) + te
    for backend in (Backend.AUTO, Backend.REFERENCE):
        got = WriteEncoder(MOBILITY, backend).request([Update(UpdateType.INSERT, entry)],
                                                      device_id=1, election_id=(0, 1))
        assert got == b"\x08\x01\x1a\x02\x10\x01\x22" + bytes([len(update)]) + update


@pytest.mark.parametrize("header", [
    {"device_id": -1}, {"device_id": 1 << 64}, {"election_id": (1 << 64, 0)},
    {"election_id": (0, -1)}, {"atomicity": 1 << 31}, {"role": b"\xff"}, {"role": 5},
    {"device_id": 1.5}])
def test_header_fields_protobuf_refuses(header: dict[str, object]) -> None:
    fields: dict[str, object] = {"device_id": 1, "election_id": (0, 1)} | header
    enc = WriteEncoder(MOBILITY)
    ups = [Update(UpdateType.INSERT, MulticastGroupEntry(1))]
    want = outcome(lambda: reference(MOBILITY, ups, **fields))  # type: ignore[arg-type]
    assert isinstance(want, tuple)
    assert outcome(lambda: enc.request(ups, **fields)) == want  # type: ignore[arg-type]


def test_the_header_kept_from_the_last_request_is_the_same_ints_only() -> None:
    enc = WriteEncoder(MOBILITY)
    ups = [Update(UpdateType.DELETE, MulticastGroupEntry(9, (Replica(0),)))]
    assert enc.request(ups, device_id=1, election_id=(0, 1)) == reference(MOBILITY, ups, 1,
                                                                          (0, 1))
    with pytest.raises(TypeError):
        enc.request(ups, device_id=1.0, election_id=(0, 1))  # type: ignore[arg-type]
    assert enc.request(ups, device_id=2, election_id=None, atomicity=1, role="r") == \
        reference(MOBILITY, ups, 2, None, 1, "r")


def test_varint() -> None:
    assert varint(0) == b"\x00"
    for n in (1, 127, 128, 300, 16383, 16384, (1 << 64) - 1):
        assert b"\x08" + varint(n) == p4r.Uint128(high=n).SerializeToString()
