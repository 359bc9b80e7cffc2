"""P4Runtime entities as slotted dataclasses with symmetric encode / decode.

Field values are held as ints; `encode(schema)` checks every name, id and bit
width against the P4Info and builds the `p4.v1` message, `decode(msg, schema)`
does the reverse. A value wider than its field, an unknown name, a missing or
extra parameter: P4EncodeError, and nothing is built.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ctrl.errors import P4EncodeError, P4SchemaError
from ctrl.p4rt.proto import p4r
from ctrl.p4rt.schema import MatchKind, P4Schema, P4Table
from ctrl.p4rt.values import Value, decode_value, encode_value, to_int

_new, _set = object.__new__, object.__setattr__


def _ints(values: Mapping[str, Value], what: str) -> dict[str, int]:
    return {name: to_int(v, f"{what} {name!r}") for name, v in values.items()}


@dataclass(frozen=True, slots=True)
class CounterData:
    packets: int = 0
    bytes: int = 0


@dataclass(frozen=True, slots=True)
class TableEntry:
    """One entry of an exact-match table, or a table's default entry (`is_default`)."""

    table: str
    match: Mapping[str, Value] = field(default_factory=dict)  # ints once built
    action: str = ""
    params: Mapping[str, Value] = field(default_factory=dict)  # ints once built
    priority: int = 0
    is_default: bool = False
    counter: CounterData | None = None  # filled in by Read when counters are asked for

    def __post_init__(self) -> None:
        object.__setattr__(self, "match", _ints(self.match, f"{self.table}: match field"))
        object.__setattr__(self, "params", _ints(self.params, f"{self.action}: parameter"))

    @classmethod
    def of_ints(cls, table: str, match: dict[str, int], action: str, params: dict[str, int],
                is_default: bool = False) -> TableEntry:
        """An entry from values that are ints already (checked by the caller): what the
        constructor makes of them, without its conversion of every value (a hot path)."""
        e = _new(cls)
        _set(e, "table", table)
        _set(e, "match", match)
        _set(e, "action", action)
        _set(e, "params", params)
        _set(e, "priority", 0)
        _set(e, "is_default", is_default)
        _set(e, "counter", None)
        return e

    def key(self) -> tuple[str, tuple[tuple[str, int], ...], int]:
        """What identifies the entry in its table (P4Runtime: table + match + priority)."""
        return self.table, tuple(sorted((k, to_int(v)) for k, v in self.match.items())), \
            self.priority

    def encode(self, schema: P4Schema) -> p4r.TableEntry:
        table = schema.tables[self.table]
        msg = p4r.TableEntry(table_id=table.id, priority=self.priority)
        if self.is_default:
            if self.match:
                raise P4EncodeError(f"{table.name}: a default entry has no match fields")
            msg.is_default_action = True
        else:
            msg.match.extend(_encode_match(table, self.match))
        if self.action:
            msg.action.action.CopyFrom(_encode_action(table, self.action, self.params,
                                                      self.is_default))
        elif not self.is_default or self.params:
            # A default entry without an action resets the default (spec 9.1.3).
            raise P4EncodeError(f"{table.name}: the entry names no action")
        if self.counter is not None:
            msg.counter_data.CopyFrom(
                p4r.CounterData(packet_count=self.counter.packets, byte_count=self.counter.bytes)
            )
        return msg

    @classmethod
    def decode(cls, msg: p4r.TableEntry, schema: P4Schema) -> TableEntry:
        table = schema.tables[msg.table_id]
        match: dict[str, int] = {}
        for fm in msg.match:
            mf = table.match_fields[fm.field_id]
            if fm.WhichOneof("field_match_type") != "exact":
                raise P4EncodeError(f"{table.name}.{mf.name}: only exact matches are decoded")
            match[mf.name] = decode_value(fm.exact.value, mf.bitwidth, f"{table.name}.{mf.name}")
        action, params = "", {}
        if msg.action.HasField("action"):
            act = schema.actions[msg.action.action.action_id]
            action = act.name
            for p in msg.action.action.params:
                param = act.params[p.param_id]
                params[param.name] = decode_value(p.value, param.bitwidth,
                                                  f"{act.name}.{param.name}")
        counter = None
        if msg.HasField("counter_data"):
            counter = CounterData(msg.counter_data.packet_count, msg.counter_data.byte_count)
        # The values are ints already: what the constructor would convert, as of_ints does.
        e = cls.of_ints(table.name, match, action, params, msg.is_default_action)
        _set(e, "priority", msg.priority)
        _set(e, "counter", counter)
        return e

    def entity(self, schema: P4Schema) -> p4r.Entity:
        return p4r.Entity(table_entry=self.encode(schema))


def _encode_match(table: P4Table, match: Mapping[str, Value]) -> list[p4r.FieldMatch]:
    unknown = set(match) - {f.name for f in table.match_fields}
    if unknown:
        raise P4EncodeError(
            f"{table.name}: no match field {', '.join(sorted(unknown))} "
            f"(fields: {', '.join(f.name for f in table.match_fields)})"
        )
    out = []
    for mf in sorted(table.match_fields, key=lambda f: f.id):
        if mf.kind is not MatchKind.EXACT:
            raise P4EncodeError(f"{table.name}.{mf.name}: {mf.kind.name} matches are not supported")
        if mf.name not in match:
            raise P4EncodeError(f"{table.name}: exact match field {mf.name!r} is missing")
        value = encode_value(to_int(match[mf.name]), mf.bitwidth, f"{table.name}.{mf.name}")
        out.append(p4r.FieldMatch(field_id=mf.id, exact=p4r.FieldMatch.Exact(value=value)))
    return out


def _encode_action(
    table: P4Table, action: str, params: Mapping[str, Value], is_default: bool
) -> p4r.Action:
    try:
        ref = table.action_ref(action)
    except P4SchemaError as exc:
        raise P4EncodeError(str(exc)) from exc
    act = ref.action
    if is_default and not ref.allowed_as_default:
        raise P4EncodeError(f"{table.name}: {act.name} may not be the default action")
    if not is_default and not ref.allowed_in_entries:
        raise P4EncodeError(f"{table.name}: {act.name} is only for the default entry")
    wanted = {p.name for p in act.params}
    if missing := wanted - set(params):
        raise P4EncodeError(f"{act.name}: missing parameter {', '.join(sorted(missing))}")
    if extra := set(params) - wanted:
        raise P4EncodeError(f"{act.name}: no parameter {', '.join(sorted(extra))}")
    msg = p4r.Action(action_id=act.id)
    for p in sorted(act.params, key=lambda p: p.id):
        value = encode_value(to_int(params[p.name]), p.bitwidth, f"{act.name}.{p.name}")
        msg.params.add(param_id=p.id, value=value)
    return msg


@dataclass(frozen=True, slots=True)
class Replica:
    port: int
    instance: int = 0


@dataclass(frozen=True, slots=True)
class MulticastGroupEntry:
    """A packet replication engine group: copies of a frame to each replica's port."""

    group_id: int
    replicas: tuple[Replica, ...] = ()

    def __post_init__(self) -> None:
        if not 0 < self.group_id < 1 << 32:
            raise P4EncodeError(f"multicast group id {self.group_id} is not in 1..2^32-1")
        for r in self.replicas:
            if not 0 <= r.port < 1 << 32 or not 0 <= r.instance < 1 << 32:
                raise P4EncodeError(f"multicast group {self.group_id}: bad replica {r}")

    @classmethod
    def of_ports(cls, group_id: int, ports: Iterable[int]) -> MulticastGroupEntry:
        return cls(group_id, tuple(Replica(p) for p in ports))

    def key(self) -> tuple[str, int]:
        return "multicast_group", self.group_id

    def encode(self) -> p4r.MulticastGroupEntry:
        msg = p4r.MulticastGroupEntry(multicast_group_id=self.group_id)
        for r in self.replicas:
            msg.replicas.add(egress_port=r.port, instance=r.instance)
        return msg

    @classmethod
    def decode(cls, msg: p4r.MulticastGroupEntry) -> MulticastGroupEntry:
        replicas = []
        for r in msg.replicas:
            if r.WhichOneof("port_kind") == "port":
                port = int.from_bytes(r.port, "big")
            else:
                port = r.egress_port
            replicas.append(Replica(port, r.instance))
        return cls(msg.multicast_group_id, tuple(replicas))

    def entity(self, schema: P4Schema | None = None) -> p4r.Entity:
        return p4r.Entity(
            packet_replication_engine_entry=p4r.PacketReplicationEngineEntry(
                multicast_group_entry=self.encode()
            )
        )


Entity = TableEntry | MulticastGroupEntry


def decode_entity(msg: p4r.Entity, schema: P4Schema) -> Entity:
    kind = msg.WhichOneof("entity")
    if kind == "table_entry":
        return TableEntry.decode(msg.table_entry, schema)
    if kind == "packet_replication_engine_entry":
        pre = msg.packet_replication_engine_entry
        if pre.WhichOneof("type") == "multicast_group_entry":
            return MulticastGroupEntry.decode(pre.multicast_group_entry)
    raise P4EncodeError(f"entity kind {kind!r} is not handled by this controller")


class UpdateType(enum.Enum):
    INSERT = p4r.Update.INSERT
    MODIFY = p4r.Update.MODIFY
    DELETE = p4r.Update.DELETE


@dataclass(frozen=True, slots=True)
class Update:
    type: UpdateType
    entity: Entity

    def encode(self, schema: P4Schema) -> p4r.Update:
        return p4r.Update(type=self.type.value, entity=self.entity.entity(schema))


def insert(entity: Entity) -> Update:
    return Update(UpdateType.INSERT, entity)


def modify(entity: Entity) -> Update:
    return Update(UpdateType.MODIFY, entity)


def delete(entity: Entity) -> Update:
    return Update(UpdateType.DELETE, entity)


def _encode_metadata(
    schema: P4Schema, header: str, values: Mapping[str, int]
) -> list[p4r.PacketMetadata]:
    meta = schema.packet_metadata[header]
    unknown = set(values) - {f.name for f in meta.fields}
    if unknown:
        raise P4EncodeError(f"{header}: no field {', '.join(sorted(unknown))}")
    out = []
    for f in sorted(meta.fields, key=lambda f: f.id):
        value = values.get(f.name, 0)
        out.append(p4r.PacketMetadata(metadata_id=f.id,
                                      value=encode_value(value, f.bitwidth, f"{header}.{f.name}")))
    return out


@dataclass(frozen=True, slots=True)
class PacketOut:
    """A frame for the switch to send; metadata fields left out are 0 (e.g. padding)."""

    payload: bytes
    metadata: Mapping[str, int] = field(default_factory=dict)

    def encode(self, schema: P4Schema) -> p4r.PacketOut:
        return p4r.PacketOut(payload=self.payload,
                             metadata=_encode_metadata(schema, "packet_out", self.metadata))


@dataclass(frozen=True, slots=True)
class PacketIn:
    """A frame the switch punted, with its packet_in metadata by field name."""

    payload: bytes
    metadata: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def decode(cls, msg: p4r.PacketIn, schema: P4Schema) -> PacketIn:
        meta = schema.packet_metadata["packet_in"]
        values = {}
        for m in msg.metadata:
            f = meta.fields[m.metadata_id]
            values[f.name] = decode_value(m.value, f.bitwidth, f"packet_in.{f.name}")
        return cls(msg.payload, values)
