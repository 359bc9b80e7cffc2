"""What a switch holds, as its Read answered: kept as bytes, decoded by the C Write decoder
when asked, one switch at a time.

A restarted controller reads every switch back before any writes (the hosts are where
the switches say); with 100,000 VMs that is about 900,000 entries on 320 switches, and as
protobuf messages made into entities (~15 us and ~500 bytes each) all of them would be
held at once while the last switch answers. Here each table entry read stays its Entity's
bytes, wrapped as a type-less p4.v1.Update so that the C decoder of Write requests
(ext/fp_p4rt.c, ctrl/fastpath) reads them: ~70 bytes an entry until the switch's turn,
then its entities made as they are iterated (`entities`) and dropped after its diff.
Multicast groups are few and read as entities.
"""

from __future__ import annotations

import operator
from collections.abc import (
    Callable,
    Container,
    Hashable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from itertools import compress
from typing import Any

from ctrl.control import heldindex
from ctrl.control.diff import Diff, diff_keyed
from ctrl.control.readback import Row, Run, row_of
from ctrl.fastpath import CompiledSchema, WriteDecoder
from ctrl.fastpath.p4rt_batch import ACTION, DEFAULT, FAST, WriteBatch
from ctrl.p4rt.client import P4Client
from ctrl.p4rt.entity import Entity, TableEntry, decode_entity
from ctrl.p4rt.proto import p4r
from ctrl.p4rt.schema import P4Schema
from ctrl.p4rt.wire import read_varint as _varint
from ctrl.p4rt.wire import varint

Only = Mapping[str, tuple[str, Container[int]]]   # action -> (parameter, values kept)
# A compact key's or value's head (table id and priority, or action id), and which of
# the values given follow it, in turn (HeldReader.key_order)
Order = tuple[tuple[int, ...], list[int]]


class HeldReader:
    """Reads switches back for one P4Info: its C decoder (reusing its memory) and names.
    One serves every switch of a controller: the decoder's arrays grow to the largest
    switch's entries once (one per switch held ~90 MB more at 100,000 VMs on 320
    switches). So a switch's entities are taken whole before another's are asked for (the
    core's read_back and a sync's diff do, in one call each); one left half-read raises
    if it is read on after that."""

    def __init__(self, schema: P4Schema) -> None:
        self.schema = schema
        self._decoder = WriteDecoder(CompiledSchema.from_p4schema(schema))
        self._turn = 0   # decodes so far: the decoder's memory is the latest one's
        self._tables = {t.id: (t.name, {f.id: f.name for f in t.match_fields})
                        for t in schema.tables}
        self._actions = {a.id: (a.name, {p.id: p.name for p in a.params})
                         for a in schema.actions}
        # `rows`: each table's name and field names by id, each action's its parameters'
        self._row_tables = {i: (name, fields.__getitem__)
                            for i, (name, fields) in self._tables.items()}
        self._row_actions = {i: (name, params.__getitem__)
                             for i, (name, params) in self._actions.items()}
        self._action_ids = {a.name: a.id for a in schema.actions}
        self._param_ids = {a.name: {p.name: p.id for p in a.params} for a in schema.actions}
        # Compact forms (see `compact`): each table's match fields and each action's
        # parameters in id order, by id and by name
        self._fields = {t.id: sorted(f.id for f in t.match_fields) for t in schema.tables}
        self._params = {a.id: sorted(p.id for p in a.params) for a in schema.actions}
        self._by_table = {t.name: (t.id, *_getter([t.match_fields[i].name
                                                     for i in self._fields[t.id]]))
                          for t in schema.tables}
        self._by_action = {a.name: (a.id, *_getter([a.params[i].name
                                                    for i in self._params[a.id]]))
                           for a in schema.actions}
        self._by_action[""] = (0, 0, _none)

    async def read(self, client: P4Client) -> Held:
        """Every entry of every table (defaults aside) and every multicast group."""
        request = p4r.ReadRequest(device_id=client.device_id)
        for table in self.schema.tables:
            request.entities.add().table_entry.table_id = table.id
        updates, count = _as_updates(await client.read_raw(request))
        return Held(self, updates, count, await client.read_multicast_groups())

    def entities(self, held: Held) -> Iterator[Entity]:
        """A switch's entries, made as they are asked for; then its groups."""
        rows = self._decode(held)
        mine = self._turn
        for i, flags in enumerate(rows.flags):
            if self._turn != mine:
                raise RuntimeError("a switch's entries read on after another switch's were "
                                   "decoded: take each switch's entities whole")
            if flags & FAST and flags & DEFAULT and rows.table[i] in self._tables:
                continue
            entity = rows.entity(i)
            if not getattr(entity, "is_default", False):
                yield entity
        yield from held.groups

    def rows(self, held: Held, only: Only | None = None) -> Iterator[Row]:
        """A switch's table entries as (table, action, match, params), defaults aside:
        what its entities say, without making them (groups: `held.groups`). `only`: the
        entries of an action named there are left out unless its parameter named there
        has one of the values given (what the reader would pass over, not made)."""
        for r in self.runs(held, only):
            if type(r) is Run:
                # (made whole from the columns, copies: read on after another switch's
                # decode, the next run raises)
                yield from list(r.rows())
            else:
                yield r   # type: ignore[misc]

    def runs(self, held: Held, only: Only | None = None) -> Iterator[Row | Run]:
        """`rows`, but runs of rows alike (ctrl/control/heldindex.py) as columns (Run,
        ctrl/control/readback.py), made from slices of the decoder's."""
        rows = self._decode(held)
        mine = self._turn
        keep = {self._action_ids[a]: (self._param_ids[a][p], values)
                for a, (p, values) in (only or {}).items() if a in self._action_ids}
        for a, b, table_id, action_id in heldindex.runs(rows):
            self._still(mine)
            shape = heldindex.alike(rows, a, b, table_id, action_id, self._fields,
                                    self._params)
            if shape is None or table_id not in self._row_tables:
                yield from self._rows_one_by_one(rows, range(a, b), keep, mine)
                continue
            run = self._run(rows, shape, table_id, action_id, keep)
            if run.match and len(next(iter(run.match.values()))):
                yield run

    def _still(self, mine: int) -> None:
        if self._turn != mine:
            raise RuntimeError("a switch's rows read on after another switch's were "
                               "decoded: take each switch's rows whole")

    def _run(self, rows: _Rows, shape: heldindex.Shape, table_id: int, action_id: int,
             keep: Mapping[int, tuple[int, Container[int]]]) -> Run:
        """A run alike as columns, `keep`'s rows only."""
        table, fields = self._row_tables[table_id]
        matches = shape.matches(rows)
        params = shape.params(rows) if shape.action else []
        action, pnames = "", list[str]()
        if shape.action:
            action, names = self._row_actions[action_id]
            order = self._params[action_id]
            pnames = list(map(names, order))
            if action_id in keep and keep[action_id][0] in order:
                pid, values = keep[action_id]
                kept = list(map(values.__contains__, params[order.index(pid)]))
                matches = [list(compress(c, kept)) for c in matches]
                params = [list(compress(c, kept)) for c in params]
        mnames = map(fields, self._fields[table_id])
        return Run(table, action, dict(zip(mnames, matches, strict=True)),
                   dict(zip(pnames, params, strict=True)))

    def _rows_one_by_one(self, rows: _Rows, which: Iterable[int],
                         keep: Mapping[int, tuple[int, Container[int]]], mine: int
                         ) -> Iterator[Row]:
        mf, mv, pf, pv = rows.mf, rows.mv, rows.pf, rows.pv
        tables = self._row_tables
        actions = self._row_actions
        for i in which:
            self._still(mine)
            flags, table_id, action_id = rows.flags[i], rows.table[i], rows.action[i]
            m0, mn, p0, pn = rows.m0[i], rows.mn[i], rows.p0[i], rows.pn[i]
            t = tables.get(table_id)
            if not flags & FAST or t is None:
                e = rows.entity(i)
                if isinstance(e, TableEntry) and not e.is_default:
                    yield row_of(e)
                continue
            if flags & DEFAULT:
                continue
            if flags & ACTION and action_id in keep:   # (first: most are left out)
                pid, values = keep[action_id]
                if pn == 1:
                    if pf[p0] == pid and pv[p0] not in values:
                        continue
                elif pid in (given := pf[p0:p0 + pn]) and \
                        pv[p0 + given.index(pid)] not in values:
                    continue
            # (made by map and zip, not comprehensions: 0.74 -> 0.58 us a dict; the slices
            # are of one length, by the decoder's counts)
            match = dict(zip(map(t[1], mf[m0:m0 + mn]), mv[m0:m0 + mn]))  # noqa: B905
            if flags & ACTION:
                action, names = actions[action_id]
                yield t[0], action, match, dict(zip(map(names, pf[p0:p0 + pn]),  # noqa: B905
                                                    pv[p0:p0 + pn]))
            else:
                yield t[0], "", match, {}

    def compact(self, e: Entity) -> tuple[Hashable, Hashable | None]:
        """An entity's key and value, compactly: a table entry whose match names every
        field of its table (table id, priority, the values in field id order) and, when
        its parameters are every one of its action's, (action id, their values in id
        order), else None; any other entity, its key() and None. Two entries' compact
        keys are equal exactly where their key()s are, and two values (neither None)
        exactly where `same` says the entries are (None: compare the entities)."""
        if type(e) is TableEntry and not e.is_default:
            t = self._by_table.get(e.table)
            if t is not None and len(e.match) == t[1]:
                try:
                    m = t[2](e.match)
                except KeyError:
                    return e.key(), None
                key = ((t[0], e.priority, *m) if t[1] > 1 else (t[0], e.priority, m) if t[1]
                       else (t[0], e.priority))
                a = self._by_action.get(e.action)
                if a is None or len(e.params) != a[1]:
                    return key, None
                try:
                    p = a[2](e.params)
                except KeyError:
                    return key, None
                return key, ((a[0], *p) if a[1] > 1 else (a[0], p) if a[1] else (a[0],))
        return e.key(), None

    def key_order(self, table: str, fields: Sequence[str]) -> Order | None:
        """How the compact key (`compact`) of an entry of `table` (priority 0) is made
        from its match values given in the order of `fields`, which name each of the
        table's match fields once (None otherwise: no such table or not those fields):
        (its head, and which of the values follow, in turn)."""
        t = self.schema.tables.get(table) if table in self._by_table else None
        if t is None:
            return None
        return _order((t.id, 0), [t.match_fields[i].name for i in self._fields[t.id]], fields)

    def value_order(self, action: str, params: Sequence[str]) -> Order | None:
        """`key_order` for the compact value of an entry of `action` from its parameters'
        values given in the order of `params` (each of its parameters once)."""
        a = self.schema.actions.get(action) if action in self._by_action else None
        if a is None:
            return None
        return _order((a.id,), [a.params[i].name for i in self._params[a.id]], params)

    def index(self, held: Held) -> HeldIndex:
        """A switch's entries by compact key (`compact`): their compact values, and where
        each is: a row of the read-back (made an entity only when asked) or, for what C
        did not decode whole and for the groups, its entity (ctrl/control/heldindex.py)."""
        rows = self._decode(held)
        values, where = heldindex.index(rows, self._fields, self._params, self.compact)
        for g in held.groups:
            k, v = self.compact(g)
            values[k] = v
            where[k] = g
        return HeldIndex(values, where, rows)

    def _decode(self, held: Held) -> _Rows:
        rows = _Rows(self, self._decoder.decode(held.data))
        self._turn += 1
        return rows


def _none(_: object) -> None:
    return None


def _order(head: tuple[int, ...], names: Sequence[str], given: Sequence[str]
           ) -> Order | None:
    """`head`, and where each of `names` is in `given`; None when `given` does not name
    each of `names` once."""
    if sorted(given) != sorted(names) or len(set(given)) != len(given):
        return None
    return head, [given.index(n) for n in names]


def _getter(names: list[str]) -> tuple[int, Callable[[Mapping[str, object]], Any]]:
    """How many names, and what takes their values from a mapping (one value for one)."""
    return len(names), (operator.itemgetter(*names) if names else _none)


class _Rows:
    """One decoded read-back's columns, as lists."""

    __slots__ = ("action", "batch", "flags", "m0", "mf", "mn", "mv", "p0", "pf", "pn", "prio",
                 "pv", "reader", "table")

    def __init__(self, reader: HeldReader, batch: WriteBatch) -> None:
        c = batch.columns
        self.reader, self.batch = reader, batch
        self.flags, self.table = c.u_flags.tolist(), c.u_table.tolist()
        self.prio, self.action = c.u_priority.tolist(), c.u_action.tolist()
        self.m0, self.mn = c.u_match_first.tolist(), c.u_match_count.tolist()
        self.p0, self.pn = c.u_param_first.tolist(), c.u_param_count.tolist()
        self.mf, self.mv = c.m_field.tolist(), c.m_value.tolist()
        self.pf, self.pv = c.p_param.tolist(), c.p_value.tolist()

    def entity(self, i: int) -> Entity:
        """Row i's entity (one C did not decode whole: by protobuf, while the decoder's
        memory is still this read-back's)."""
        r = self.reader
        flags, table_id = self.flags[i], self.table[i]
        if not flags & FAST or table_id not in r._tables:
            return decode_entity(self.batch.update_message(i).entity, r.schema)
        table, fields = r._tables[table_id]
        m0, p0 = self.m0[i], self.p0[i]
        match = {fields[self.mf[k]]: self.mv[k] for k in range(m0, m0 + self.mn[i])}
        action, params = "", {}
        if flags & ACTION:
            action, param_names = r._actions[self.action[i]]
            params = {param_names[self.pf[k]]: self.pv[k] for k in range(p0, p0 + self.pn[i])}
        e = TableEntry.of_ints(table, match, action, params, bool(flags & DEFAULT))
        if self.prio[i]:
            object.__setattr__(e, "priority", self.prio[i])
        return e


class HeldIndex:
    """A switch's entries by compact key: their `values` and `where` each is (see
    HeldReader.index)."""

    __slots__ = ("_rows", "values", "where")

    def __init__(self, values: heldindex.Values, where: heldindex.Where, rows: _Rows) -> None:
        self.values = values
        self.where = where
        self._rows = rows

    def entity(self, where: int | Entity) -> Entity:
        return self._rows.entity(where) if isinstance(where, int) else where


class Held:
    """One switch's entries as read back (see the module's docstring)."""

    __slots__ = ("_count", "data", "groups", "reader")

    def __init__(self, reader: HeldReader, data: bytes, count: int,
                 groups: list[Entity]) -> None:
        self.reader = reader
        self.data = data      # WriteRequest bytes: one type-less Update per table entry
        self._count = count
        self.groups = groups

    def __len__(self) -> int:
        return self._count + len(self.groups)

    def entities(self) -> Iterator[Entity]:
        return self.reader.entities(self)

    def rows(self, only: Only | None = None) -> Iterator[Row]:
        return self.reader.rows(self, only)

    def runs(self, only: Only | None = None) -> Iterator[Row | Run]:
        return self.reader.runs(self, only)

    def diff(self, wanted: Iterable[Entity]) -> Diff:
        """The updates that make this switch hold `wanted` (ctrl/control/diff.py's `diff`),
        the entries read compared by their compact keys and values."""
        index = self.reader.index(self)
        return diff_keyed(wanted, index.values, index.where, self.reader.compact,
                          index.entity)


def _as_updates(chunks: list[bytes]) -> tuple[bytes, int]:
    """ReadResponse bytes -> a WriteRequest's bytes holding each entity as an Update.
    An entity under 128 bytes (nearly all: ~70) has its tag and size in a byte each,
    read here without a call, and its Update's header made once (`_HEADS`); the entities'
    bytes are joined as views of the response's (copied once, into the result)."""
    out: list[bytes | memoryview] = []   # header, entity, header, entity...
    heads = _HEADS
    for data in chunks:
        view = memoryview(data)
        i, n = 0, len(data)
        while i < n:
            if data[i] == 0x0A and i + 1 < n and data[i + 1] < 0x80:   # an entity, short
                size = data[i + 1]
                i += 2
                out += heads[size], view[i:i + size]
                i += size
                continue
            tag, i = _varint(data, i)
            if tag & 7 != 2:   # only length-delimited fields in a ReadResponse
                raise ValueError(f"ReadResponse: field {tag >> 3} of wire type {tag & 7}")
            size, i = _varint(data, i)
            if tag >> 3 == 1:   # entities
                out += _head(size), view[i:i + size]
            i += size
    return b"".join(out), len(out) // 2


def _head(size: int) -> bytes:
    """The headers of an Update (field 4 of a WriteRequest) and of its entity (its field
    2) for an entity of `size` bytes."""
    entity = b"\x12" + varint(size)
    return b"\x22" + varint(len(entity) + size) + entity


_HEADS = [_head(size) for size in range(128)]
