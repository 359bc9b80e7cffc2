"""A Write request as bytes, decoded by C: what ctrl/targets/ovs/validate.py says of each
update. Pure.

    parser = WriteParser.make(schema)        # per pipeline; None where C is not built
    batch = parser.decode(raw)               # WriteDecodeError: use protobuf instead
    results = parser.parse(batch)            # one Parsed or Rejected per update

A fast update whose C verdict is OK becomes its TableEntry straight from the
columns' ints. Every other update (refused by C, or slow: another entity, a
non-canonical encoding) is parsed by protobuf and checked by `parse_update`, so
its error, or its meaning, is exactly what the protobuf path gives.
"""

from __future__ import annotations

from dataclasses import dataclass

from ctrl.fastpath import CompiledSchema, MalformedWriteError, WriteBatch, WriteDecoder
from ctrl.fastpath.p4rt import native_decoder
from ctrl.fastpath.p4rt_batch import ACTION, DEFAULT, FAST
from ctrl.p4rt.entity import TableEntry
from ctrl.p4rt.proto import p4r
from ctrl.p4rt.schema import P4Schema
from ctrl.targets.ovs.validate import Parsed, Rejected, parse_update

Result = Parsed | Rejected  # what parse_update gives for one update, or raises


def parse_or_reject(update: p4r.Update, schema: P4Schema) -> Result:
    """parse_update's answer for one update, the error as a value."""
    try:
        return parse_update(update, schema)
    except Rejected as exc:
        return exc


@dataclass(frozen=True, slots=True)
class _Names:
    """Ids to names: tables (with their fields by id), actions (with their parameters)."""

    tables: dict[int, tuple[str, dict[int, str]]]
    actions: dict[int, tuple[str, dict[int, str]]]

    @classmethod
    def of(cls, schema: P4Schema) -> _Names:
        return cls({t.id: (t.name, {f.id: f.name for f in t.match_fields})
                    for t in schema.tables},
                   {a.id: (a.name, {p.id: p.name for p in a.params}) for a in schema.actions})


class WriteParser:
    """One pipeline's decoder (C, reusing its memory) and what it needs to name things."""

    __slots__ = ("_decoder", "_names", "schema")

    def __init__(self, schema: P4Schema) -> None:
        self.schema = schema
        self._decoder = WriteDecoder(CompiledSchema.from_p4schema(schema))
        self._names = _Names.of(schema)

    @classmethod
    def make(cls, schema: P4Schema) -> WriteParser | None:
        """A parser, or None where the C decoder is not built (protobuf alone is faster
        then than the decoder's reference on protobuf)."""
        return cls(schema) if native_decoder() else None

    def decode(self, data: bytes) -> WriteBatch:
        """The request's header and columns; WriteDecodeError when C does not take it."""
        return self._decoder.decode(data)

    def parse(self, batch: WriteBatch, slow: dict[int, p4r.Update] | None = None
              ) -> list[Result]:
        """parse_update's answer for each update, in order; `slow`: updates protobuf has
        parsed already, by position. MalformedWriteError where protobuf refuses an
        update's bytes (the request is then protobuf's)."""
        c, schema = batch.columns, self.schema
        slow = slow or {}
        tables, actions = self._names.tables, self._names.actions
        mf, mv = c.m_field.tolist(), c.m_value.tolist()
        pp, pv = c.p_param.tolist(), c.p_value.tolist()
        out: list[Result] = []
        rows = zip(c.u_flags.tolist(), c.u_verdict.tolist(), c.u_type.tolist(),
                   c.u_table.tolist(), c.u_action.tolist(), c.u_match_first.tolist(),
                   c.u_match_count.tolist(), c.u_param_first.tolist(),
                   c.u_param_count.tolist(), strict=True)
        for i, (flags, verdict, kind, table_id, action_id, m0, mn, p0, pn) in enumerate(rows):
            if not flags & FAST or verdict:
                msg = slow.get(i)
                out.append(parse_or_reject(msg if msg is not None else batch.update_message(i),
                                           schema))
                continue
            table, field_names = tables[table_id]
            match = {field_names[mf[k]]: mv[k] for k in range(m0, m0 + mn)}
            action, params = "", {}
            if flags & ACTION:
                action, param_names = actions[action_id]
                params = {param_names[pp[k]]: pv[k] for k in range(p0, p0 + pn)}
            out.append(Parsed(kind, TableEntry.of_ints(table, match, action, params,
                                                       bool(flags & DEFAULT))))
        return out


@dataclass(frozen=True, slots=True)
class DecodedWrite:
    """A request as `parser` decoded it, its bytes, and its slow updates as protobuf
    parsed them (`of`)."""

    data: bytes
    batch: WriteBatch
    parser: WriteParser
    slow: dict[int, p4r.Update]

    @classmethod
    def of(cls, data: bytes, batch: WriteBatch, parser: WriteParser) -> DecodedWrite:
        """MalformedWriteError where protobuf refuses a slow update's bytes (C leaves
        them unread past what made it slow): protobuf refuses the whole request, and
        that comes before any check of its header, as it does without C."""
        slow = {i: batch.update_message(i) for i in batch.slow_indexes()} if batch.n_slow \
            else {}
        return cls(data, batch, parser, slow)


def parse_request(request: p4r.WriteRequest | DecodedWrite, schema: P4Schema,
                  parser: WriteParser | None = None) -> list[Result]:
    """parse_update's answer for every update of a request, in order: from the columns
    where `parser` (the pipeline's) decoded it, else from protobuf's parse of it."""
    if isinstance(request, DecodedWrite):
        if request.parser is parser and parser is not None:
            try:
                return parser.parse(request.batch, request.slow)
            except MalformedWriteError:
                pass  # an update protobuf refuses: so it refuses the request
        # DecodeError here is what protobuf's deserializer would have raised
        request = p4r.WriteRequest.FromString(request.data)
    return [parse_or_reject(u, schema) for u in request.updates]
