"""The Write decoder on protobuf's classes: the reference the C decoder (ext/fp_p4rt.c) equals.

protobuf parses the request; an update is fast when it is an exact-match
TableEntry with a direct action (or none), no field outside that, no unknown
field, values of at most 8 bytes, and its bytes are exactly what protobuf writes
for it (the canonical encoding the C decoder takes). The verdicts follow
parse_update() of ctrl/targets/ovs/validate.py on the typed P4Info, check for check.
Where each update lies in the request is found by walking the request's
top-level fields, as protobuf does.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable

from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet  # type: ignore[import-not-found]

from ctrl.fastpath.errors import MalformedWriteError, UnsupportedWriteError
from ctrl.fastpath.p4rt_batch import (
    ACTION,
    COLUMNS,
    DEFAULT,
    FAST,
    NO_VERDICT,
    VALUE_MAX,
    Columns,
    Verdict,
    WriteBatch,
    WriteHeader,
)
from ctrl.fastpath.p4rt_schema import CompiledSchema
from ctrl.p4rt.proto import p4r
from ctrl.p4rt.schema import ActionScope, MatchKind, P4Schema

_ENTRY_FIELDS = frozenset({"table_id", "match", "action", "priority", "is_default_action"})
_UPDATES_TAG = 0x22  # WriteRequest.updates, field 4, length-delimited
_INSERT, _MODIFY, _DELETE = p4r.Update.INSERT, p4r.Update.MODIFY, p4r.Update.DELETE


def decode(data: bytes, schema: CompiledSchema | None) -> WriteBatch:
    """As p4rt.decode_write(), on protobuf."""
    try:
        req = p4r.WriteRequest.FromString(data)
    except (DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedWriteError(f"not a p4.v1.WriteRequest: {exc}") from None
    spans = update_spans(data)
    assert len(spans) == len(req.updates)
    cols = Columns(**{name: array(code) for name, code, _ in COLUMNS})
    for u, (start, length) in zip(req.updates, spans, strict=True):
        fast = common_case(u) and u.SerializeToString() == data[start:start + length]
        _append(cols, u, fast, start, length)
        if fast and schema is not None:
            cols.u_verdict[-1] = verdict(cols, len(cols.u_flags) - 1, schema.schema)
    eid = req.election_id
    header = WriteHeader(req.device_id, req.role_id, req.role, eid.high << 64 | eid.low,
                         req.HasField("election_id"), req.atomicity)
    return WriteBatch(data, header, cols)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value & (1 << 64) - 1, pos
        shift += 7


def update_spans(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of each Update in a request protobuf parsed: the fields whose tag
    is 0x22, padded or not (upb reads a tag as a varint), as protobuf finds them.
    UnsupportedWriteError for a group."""
    spans, pos = [], 0
    while pos < len(data):
        tag, after = _varint(data, pos)
        wire_type = tag & 7
        if wire_type == 3:
            raise UnsupportedWriteError("a group in the WriteRequest")
        if wire_type == 0:
            _, pos = _varint(data, after)
        elif wire_type in (1, 5):
            pos = after + (8 if wire_type == 1 else 4)
        else:  # 2: length-delimited (protobuf took the request: 4, 6, 7 are not here)
            size, start = _varint(data, after)
            if tag == _UPDATES_TAG:
                spans.append((start, size))
            pos = start + size
    return spans


def _unknown(msg: Message) -> bool:
    """Whether msg came with fields its schema does not know (protobuf >= 5: no UnknownFields)."""
    return len(UnknownFieldSet(msg)) > 0


def common_case(u: p4r.Update) -> bool:
    """An update of the fast kind, but for its encoding."""
    entity = u.entity
    if u.type not in (0, _INSERT, _MODIFY, _DELETE) or _unknown(u) \
            or entity.WhichOneof("entity") != "table_entry" or _unknown(entity):
        return False
    te = entity.table_entry
    if _unknown(te) or any(f.name not in _ENTRY_FIELDS for f, _ in te.ListFields()):
        return False
    for fm in te.match:
        if _unknown(fm) or fm.WhichOneof("field_match_type") != "exact" \
                or _unknown(fm.exact) or len(fm.exact.value) > VALUE_MAX:
            return False
    which = te.action.WhichOneof("type")
    if _unknown(te.action) or which not in (None, "action"):
        return False
    act = te.action.action
    return which is None or (not _unknown(act) and all(
        not _unknown(p) and len(p.value) <= VALUE_MAX for p in act.params))


def _append(c: Columns, u: p4r.Update, fast: bool, start: int, length: int) -> None:
    c.u_match_first.append(len(c.m_field))
    c.u_param_first.append(len(c.p_param))
    c.u_offset.append(start)
    c.u_length.append(length)
    c.u_verdict.append(NO_VERDICT)
    te = u.entity.table_entry
    direct = te.action.WhichOneof("type") == "action"
    if not fast:
        for name in ("u_type", "u_flags", "u_table", "u_priority", "u_action", "u_match_count",
                     "u_param_count"):
            getattr(c, name).append(0)
        return
    c.u_type.append(u.type)
    c.u_flags.append(FAST | (DEFAULT if te.is_default_action else 0) | (ACTION if direct else 0))
    c.u_table.append(te.table_id)
    c.u_priority.append(te.priority)
    c.u_action.append(te.action.action.action_id)
    c.u_match_count.append(len(te.match))
    c.u_param_count.append(len(te.action.action.params))
    for fm in te.match:
        c.m_field.append(fm.field_id)
        c.m_value.append(int.from_bytes(fm.exact.value, "big"))
        c.m_len.append(len(fm.exact.value))
    for p in te.action.action.params:
        c.p_param.append(p.param_id)
        c.p_value.append(int.from_bytes(p.value, "big"))
        c.p_len.append(len(p.value))


_FIELD_REASONS = (Verdict.UNKNOWN_FIELD, Verdict.DUPLICATE_FIELD, Verdict.EMPTY_VALUE,
                  Verdict.FIELD_TOO_WIDE)
_PARAM_REASONS = (Verdict.UNKNOWN_PARAM, Verdict.DUPLICATE_PARAM, Verdict.EMPTY_PARAM,
                  Verdict.PARAM_TOO_WIDE)
Spec = Callable[[int], "tuple[int, bool] | None"]  # id -> (bit width, an exact match), or None


def _first_bad(ids: array[int], values: array[int], lens: array[int], first: int, count: int,
               spec: Spec, reasons: tuple[Verdict, Verdict, Verdict, Verdict]) -> Verdict | None:
    """parse_update()'s checks of each match (or parameter) in turn: unknown, given
    twice, not an exact match, empty, too wide."""
    seen: set[int] = set()
    for k in range(first, first + count):
        got = spec(ids[k])
        if got is None:
            return reasons[0]
        if ids[k] in seen:
            return reasons[1]
        seen.add(ids[k])
        bitwidth, exact = got
        if not exact:
            return Verdict.NOT_EXACT
        if not lens[k]:
            return reasons[2]
        if values[k].bit_length() > bitwidth:
            return reasons[3]
    return None


def verdict(c: Columns, i: int, schema: P4Schema) -> Verdict:
    """parse_update()'s checks, in its order, on update i's columns."""
    kind, flags = c.u_type[i], c.u_flags[i]
    is_default = bool(flags & DEFAULT)
    if kind not in (_INSERT, _MODIFY, _DELETE):
        return Verdict.BAD_TYPE
    table = schema.tables.get(c.u_table[i])
    if table is None:
        return Verdict.UNKNOWN_TABLE
    matches = c.u_match_count[i]
    if is_default:
        if kind != _MODIFY:
            return Verdict.DEFAULT_NOT_MODIFY
        if matches:
            return Verdict.DEFAULT_HAS_MATCH
        if table.has_const_default_action:
            return Verdict.CONST_DEFAULT
    if c.u_priority[i] != 0:
        return Verdict.PRIORITY

    def field(fid: int) -> tuple[int, bool] | None:
        mf = table.match_fields.get(fid)
        return None if mf is None else (mf.bitwidth, mf.kind is MatchKind.EXACT)

    bad = _first_bad(c.m_field, c.m_value, c.m_len, c.u_match_first[i], matches, field,
                     _FIELD_REASONS)
    if bad is not None:
        return bad
    if not is_default and matches < len(table.match_fields):  # each one another field
        return Verdict.MISSING_FIELD
    if not flags & ACTION:
        return Verdict.OK if kind == _DELETE else Verdict.NO_ACTION
    act = schema.actions.get(c.u_action[i])
    if act is None:
        return Verdict.UNKNOWN_ACTION
    ref = next((r for r in table.action_refs if r.action.id == act.id), None)
    if ref is None:
        return Verdict.ACTION_NOT_IN_TABLE
    if not is_default and ref.scope is ActionScope.DEFAULT_ONLY:
        return Verdict.DEFAULT_ONLY_ACTION

    def param(pid: int) -> tuple[int, bool] | None:
        p = act.params.get(pid)
        return None if p is None else (p.bitwidth, True)

    params = c.u_param_count[i]
    bad = _first_bad(c.p_param, c.p_value, c.p_len, c.u_param_first[i], params, param,
                     _PARAM_REASONS)
    if bad is not None:
        return bad
    return Verdict.MISSING_PARAM if params < len(act.params) else Verdict.OK
