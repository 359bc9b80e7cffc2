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

from collections.abc import Iterator

from ctrl.fastpath import CompiledSchema, WriteDecoder
from ctrl.fastpath.p4rt_batch import ACTION, DEFAULT, FAST
from ctrl.p4rt.client import P4Client
from ctrl.p4rt.entity import Entity, TableEntry, decode_entity
from ctrl.p4rt.proto import p4r
from ctrl.p4rt.schema import P4Schema
from ctrl.p4rt.wire import read_varint as _varint
from ctrl.p4rt.wire import varint


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

    async def read(self, client: P4Client) -> Held:
        """Every entry of every table (defaults aside) and every multicast group."""
        request = p4r.ReadRequest(device_id=client.device_id)
        for table in self.schema.tables:
            request.entities.add().table_entry.table_id = table.id
        updates, count = _as_updates(await client.read_raw(request))
        return Held(self, updates, count, await client.read_multicast_groups())

    def entities(self, held: Held) -> Iterator[Entity]:
        """A switch's entries, made as they are asked for; then its groups."""
        batch = self._decoder.decode(held.data)
        self._turn += 1
        mine = self._turn
        c = batch.columns
        mf, mv = c.m_field.tolist(), c.m_value.tolist()
        pp, pv = c.p_param.tolist(), c.p_value.tolist()
        rows = zip(c.u_flags.tolist(), c.u_table.tolist(), c.u_priority.tolist(),
                   c.u_action.tolist(), c.u_match_first.tolist(), c.u_match_count.tolist(),
                   c.u_param_first.tolist(), c.u_param_count.tolist(), strict=True)
        for i, (flags, table_id, prio, action_id, m0, mn, p0, pn) in enumerate(rows):
            if self._turn != mine:
                raise RuntimeError("a switch's entries read on after another switch's were "
                                   "decoded: take each switch's entities whole")
            if not flags & FAST or table_id not in self._tables:
                entity = decode_entity(batch.update_message(i).entity, self.schema)
                if not getattr(entity, "is_default", False):
                    yield entity
                continue
            if flags & DEFAULT:
                continue
            table, fields = self._tables[table_id]
            match = {fields[mf[k]]: mv[k] for k in range(m0, m0 + mn)}
            action, params = "", {}
            if flags & ACTION:
                action, param_names = self._actions[action_id]
                params = {param_names[pp[k]]: pv[k] for k in range(p0, p0 + pn)}
            e = TableEntry.of_ints(table, match, action, params)
            if prio:
                object.__setattr__(e, "priority", prio)
            yield e
        yield from held.groups


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


def _as_updates(chunks: list[bytes]) -> tuple[bytes, int]:
    """ReadResponse bytes -> a WriteRequest's bytes holding each entity as an Update."""
    out: list[bytes] = []
    for data in chunks:
        i, n = 0, len(data)
        while i < n:
            tag, i = _varint(data, i)
            if tag & 7 != 2:   # only length-delimited fields in a ReadResponse
                raise ValueError(f"ReadResponse: field {tag >> 3} of wire type {tag & 7}")
            size, i = _varint(data, i)
            if tag >> 3 == 1:   # entities
                update = b"\x12" + varint(size) + data[i:i + size]
                out.append(b"\x22" + varint(len(update)) + update)
            i += size
    return b"".join(out), len(out)

