"""WriteRequest bytes of the common updates, byte for byte what protobuf serializes. Pure.

    encoder = WriteEncoder(schema)                  # once per P4Info
    data = encoder.request(updates, device_id=1, election_id=(0, 1))

P4Client sends Write as these bytes. protobuf 3.20's pure-Python backend spent
~400 us an entry building and serializing the messages of a batched Write; on protobuf
6 (upb), building them from the entities still costs ~11 us an entry against ~1.6 here
(1,000 bridging inserts, one run on the project's 2-core machine); here
an update is joined from pieces made once per table and action (by protobuf
itself: ids, tags, lengths) and the values' canonical bytes. Covered ("fast"):
INSERT, MODIFY and DELETE of

- a TableEntry of a table whose match fields are all exact, not a default entry,
  without priority or counter data, every match field given once as an int that
  fits its width, an action the table allows in entries with every parameter
  given once as an int that fits;
- a MulticastGroupEntry with a group id and replicas in uint32.

Any other update, refused ones included, is the entity's `encode()` and protobuf's
SerializeToString, which raise what they raise without this module. The bytes are
protobuf's: known fields in field-number order, no zero scalars, minimal varints,
a oneof member written even when zero (Replica.egress_port), values as
ctrl/p4values.encode_value makes them (shortest big-endian, zero as one byte);
tests/p4rt/test_wire.py compares them on random entries of two P4Infos.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast

from ctrl.fastpath.errors import NotBuiltError
from ctrl.fastpath.native import Backend
from ctrl.fastpath.p4rt_encode import Shape, native_encoder
from ctrl.p4rt.entity import MulticastGroupEntry, TableEntry, Update, UpdateType
from ctrl.p4rt.proto import p4r
from ctrl.p4rt.schema import MatchKind, P4Action, P4Param, P4Schema, P4Table

_SMALL = [bytes((n,)) for n in range(128)]
_U32 = 1 << 32
_NO_TABLE = object()  # in the plan cache: a table the fast path never encodes


def varint(n: int) -> bytes:
    """The protobuf varint of an unsigned `n`."""
    if n < 128:
        return _SMALL[n]
    out = bytearray()
    while n > 127:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def read_varint(data: bytes, i: int) -> tuple[int, int]:
    """The varint at data[i:] and where it ends (IndexError past the end)."""
    out = shift = 0
    while True:
        b = data[i]
        i += 1
        out |= (b & 0x7F) << shift
        if b < 0x80:
            return out, i
        shift += 7


def _len(n: int) -> bytes:
    return _SMALL[n] if n < 128 else varint(n)


def _exact(n: int) -> bytes:
    """FieldMatch.exact of an n-byte value, up to the value."""
    return b"\x12" + _len(1 + len(_len(n)) + n) + b"\x0a" + _len(n)


def _param(n: int) -> bytes:
    """Action.Param.value of n bytes, up to the value."""
    return b"\x1a" + _len(n)


@dataclass(frozen=True, slots=True)
class _Values:
    """Match fields or parameters in id order, each as its name, the limit of its values
    and the bytes before its value by the value's length (1 .. the field's bytes)."""

    items: tuple[tuple[str, int, tuple[bytes, ...]], ...]

    @classmethod
    def of(cls, items: Iterable[P4Param], tag: bytes, prefix: Callable[[int], bytes],
           value: Callable[[int], bytes]) -> _Values:
        """`tag`: of the repeated field (TableEntry.match, Action.params); `prefix(id)`:
        the message's bytes before its value (FieldMatch.field_id, Param.param_id, by
        protobuf); `value(n)`: the value's field of n bytes, up to the value."""
        out = []
        for f in sorted(items, key=lambda f: f.id):
            pre, most = prefix(f.id), max(1, (f.bitwidth + 7) // 8)
            heads = tuple(tag + _len(len(pre) + len(value(n)) + n) + pre + value(n) if n
                          else b"" for n in range(most + 1))
            out.append((f.name, 1 << f.bitwidth, heads))
        return cls(tuple(out))

    def encode(self, values: object) -> bytes | None:
        """The values' fields, or None where `values` is not a dict of exactly these
        names with ints that fit."""
        if type(values) is not dict or len(values) != len(self.items):
            return None
        out = b""
        for name, limit, heads in self.items:
            v = values.get(name)
            if type(v) is not int or not 0 <= v < limit:
                return None
            n = (v.bit_length() + 7) >> 3 or 1
            out += heads[n] + v.to_bytes(n)
        return out


@dataclass(frozen=True, slots=True)
class _ActionPlan:
    head: bytes      # Action.action_id
    params: _Values

    @classmethod
    def of(cls, action: P4Action) -> _ActionPlan:
        return cls(p4r.Action(action_id=action.id).SerializeToString(),
                   _Values.of(action.params, b"\x22",
                              lambda i: p4r.Action.Param(param_id=i).SerializeToString(),
                              _param))


@dataclass(frozen=True, slots=True)
class _TablePlan:
    head: bytes                                 # TableEntry.table_id
    fields: _Values
    actions: dict[str, _ActionPlan | None]      # by name and alias; None: default only

    @classmethod
    def of(cls, table: P4Table) -> _TablePlan | None:
        """The plan of a table whose match fields are all exact (None for any other)."""
        actions = _entry_actions(table)
        if actions is None:
            return None
        fields = _Values.of(_fields(table), b"\x12",
                            lambda i: p4r.FieldMatch(field_id=i).SerializeToString(), _exact)
        return cls(p4r.TableEntry(table_id=table.id).SerializeToString(), fields,
                   {name: None if a is None else _ActionPlan.of(a)
                    for name, a in actions.items()})


def _entry_actions(table: P4Table) -> dict[str, P4Action | None] | None:
    """The actions of a table whose match fields are all exact, by name and alias (None:
    only for the default entry); None for any other table."""
    if any(f.kind is not MatchKind.EXACT for f in table.match_fields):
        return None
    actions: dict[str, P4Action | None] = {}
    for ref in table.action_refs:  # the first ref a name finds, as P4Table.action_ref
        action = ref.action if ref.allowed_in_entries else None
        actions.setdefault(ref.action.name, action)
        actions.setdefault(ref.action.alias, action)
    return actions


def _fields(table: P4Table) -> list[P4Param]:
    return [P4Param(f.id, f.name, f.bitwidth) for f in table.match_fields]


def _slots(items: Iterable[P4Param]) -> tuple[tuple[str, int, int], ...]:
    return tuple((f.name, f.id, f.bitwidth) for f in sorted(items, key=lambda f: f.id))


_TYPES: dict[UpdateType, bytes] = {t: p4r.Update(type=t.value).SerializeToString()
                                   for t in UpdateType}


class WriteEncoder:
    """p4.v1.WriteRequest bytes for one P4Info; plans of its tables made on first use.
    The common updates are made in C (ctrl/fastpath/p4rt_encode.py) where the module is
    built and `backend` allows, with the same bytes."""

    def __init__(self, schema: P4Schema, backend: Backend = Backend.AUTO) -> None:
        self.schema = schema
        self._tables: dict[object, _TablePlan | object] = {}
        self._header_key: tuple[object, ...] = ()
        self._header = (b"", b"")
        self._native = None if backend is Backend.REFERENCE else native_encoder(self._shape)
        if self._native is None and backend is Backend.NATIVE:
            raise NotBuiltError("the C fast path's Write encoder is not built here")

    def _shape(self, table: str, action: str) -> Shape | None:
        """An entry of `table` with `action` as the C encoder takes it, where this module
        covers it."""
        found = self.schema.tables.get(table)
        actions = None if found is None else _entry_actions(found)
        act = None if actions is None else actions.get(action)
        if found is None or act is None:
            return None
        return Shape(found.id, act.id, _slots(_fields(found)), _slots(act.params))

    def request(self, updates: Iterable[Update], *, device_id: int,
                election_id: tuple[int, int] | None, atomicity: int = 0, role: str = ""
                ) -> bytes:
        """What SerializeToString makes of the WriteRequest with these fields and the
        updates' `encode(schema)` (whose errors it raises, the request's first)."""
        head, tail = self._header_of(device_id, election_id, atomicity, role)
        if self._native is not None:
            return head + self._native.encode(list(updates), self._field) + tail
        return b"".join([head, *map(self._field, updates), tail])

    def _field(self, update: Update) -> bytes:
        """An update as a WriteRequest.updates field."""
        data = self.update(update)
        return b"\x22" + _len(len(data)) + data

    def update(self, update: Update) -> bytes:
        """One Update message's bytes."""
        data = self.fast_update(update)
        return update.encode(self.schema).SerializeToString() if data is None else data

    def fast_update(self, update: Update) -> bytes | None:
        """One Update message's bytes where this module covers it, else None."""
        kind = _TYPES.get(update.type)
        if kind is None:
            return None
        entity = update.entity
        if type(entity) is TableEntry:
            te = self._table_entry(entity)
            if te is None:
                return None
            body = b"\x12" + _len(len(te)) + te
        elif type(entity) is MulticastGroupEntry:
            pre = _multicast_group(entity)
            if pre is None:
                return None
            body = b"\x4a" + _len(len(pre)) + pre
        else:
            return None
        return kind + b"\x12" + _len(len(body)) + body

    def _table_entry(self, e: TableEntry) -> bytes | None:
        if e.is_default or e.counter is not None or type(e.priority) is not int or e.priority:
            return None
        if type(e.table) is not str:
            return None
        plan = self._tables.get(e.table)
        if plan is None:
            table = self.schema.tables.get(e.table)
            plan = self._tables[e.table] = (_TablePlan.of(table) if table is not None
                                            else None) or _NO_TABLE
        if type(plan) is not _TablePlan:
            return None
        action = plan.actions.get(e.action) if type(e.action) is str else None
        if action is None:
            return None
        matches = plan.fields.encode(e.match)
        params = action.params.encode(e.params)
        if matches is None or params is None:
            return None
        act = action.head + params
        ta = b"\x0a" + _len(len(act)) + act
        return plan.head + matches + b"\x1a" + _len(len(ta)) + ta

    def _header_of(self, device_id: int, election_id: tuple[int, int] | None,
                   atomicity: int, role: str) -> tuple[bytes, bytes]:
        """The request's bytes before its updates and after them, by protobuf; the last
        one kept while its fields are the same ints and str."""
        key = (device_id, election_id, atomicity, role)
        if key == self._header_key and _plain(key):
            return self._header
        if election_id is None:
            head = p4r.WriteRequest(device_id=device_id)
        else:
            high, low = election_id
            head = p4r.WriteRequest(device_id=device_id,
                                    election_id=p4r.Uint128(high=high, low=low))
        tail = p4r.WriteRequest(atomicity=cast("p4r.WriteRequest.Atomicity", atomicity), role=role)
        self._header = head.SerializeToString(), tail.SerializeToString()
        self._header_key = key
        return self._header


def _plain(key: tuple[object, ...]) -> bool:
    device_id, election_id, atomicity, role = key
    return (type(device_id) is int and type(atomicity) is int and type(role) is str
            and (election_id is None or (type(election_id) is tuple
                                         and all(type(x) is int for x in election_id))))


def _multicast_group(g: MulticastGroupEntry) -> bytes | None:
    """PacketReplicationEngineEntry bytes of a group whose numbers fit in uint32."""
    gid = g.group_id
    if type(gid) is not int or not 0 < gid < _U32:
        return None
    out = b"\x08" + varint(gid)
    for r in g.replicas:
        port, instance = r.port, r.instance
        if type(port) is not int or type(instance) is not int or not (
                0 <= port < _U32 and 0 <= instance < _U32):
            return None
        rep = b"\x08" + varint(port)
        if instance:
            rep += b"\x10" + varint(instance)
        out += b"\x12" + _SMALL[len(rep)] + rep
    return b"\x0a" + _len(len(out)) + out
