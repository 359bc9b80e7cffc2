"""A typed, read-only view of a P4Info.

Every P4 object is looked up by name (full name or alias) or by numeric id
through one map per kind; nothing else in the controller handles raw P4Info
messages or numeric ids.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from google.protobuf import text_format
from google.protobuf.message import DecodeError

from ctrl.errors import P4SchemaError
from ctrl.p4rt.proto import p4i


class MatchKind(enum.Enum):
    EXACT = p4i.MatchField.EXACT
    LPM = p4i.MatchField.LPM
    TERNARY = p4i.MatchField.TERNARY
    RANGE = p4i.MatchField.RANGE
    OPTIONAL = p4i.MatchField.OPTIONAL


class ActionScope(enum.Enum):
    TABLE_AND_DEFAULT = p4i.ActionRef.TABLE_AND_DEFAULT
    TABLE_ONLY = p4i.ActionRef.TABLE_ONLY
    DEFAULT_ONLY = p4i.ActionRef.DEFAULT_ONLY


class _Named(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def alias(self) -> str: ...


T = TypeVar("T", bound=_Named)


class NameIdMap(Generic[T]):
    """Objects of one kind, found by full name, alias or id."""

    def __init__(self, kind: str, items: Iterable[T]) -> None:
        self._kind = kind
        self._by_id: dict[int, T] = {}
        self._by_name: dict[str, T] = {}
        for item in items:
            self._by_id[item.id] = item
            self._by_name[item.name] = item
        # An alias never hides a full name.
        for item in self._by_id.values():
            self._by_name.setdefault(item.alias, item)

    def __getitem__(self, key: str | int) -> T:
        found = self._by_id.get(key) if isinstance(key, int) else self._by_name.get(key)
        if found is None:
            known = ", ".join(sorted(i.name for i in self._by_id.values())) or "none"
            raise P4SchemaError(f"no {self._kind} {key!r} in the P4Info (known: {known})")
        return found

    def get(self, key: str | int) -> T | None:
        return self._by_id.get(key) if isinstance(key, int) else self._by_name.get(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, int):
            return key in self._by_id
        return isinstance(key, str) and key in self._by_name

    def __iter__(self) -> Iterator[T]:
        """In P4Info order: declaration order for match fields, parameters, metadata."""
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def names(self) -> list[str]:
        return sorted(i.name for i in self)


@dataclass(frozen=True, slots=True)
class P4MatchField:
    id: int
    name: str
    bitwidth: int
    kind: MatchKind

    @property
    def alias(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class P4Param:
    """An action parameter, or a field of controller packet metadata."""

    id: int
    name: str
    bitwidth: int

    @property
    def alias(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class P4Action:
    id: int
    name: str
    alias: str
    params: NameIdMap[P4Param]


@dataclass(frozen=True, slots=True)
class P4ActionRef:
    action: P4Action
    scope: ActionScope

    @property
    def allowed_in_entries(self) -> bool:
        return self.scope is not ActionScope.DEFAULT_ONLY

    @property
    def allowed_as_default(self) -> bool:
        return self.scope is not ActionScope.TABLE_ONLY


@dataclass(frozen=True, slots=True)
class P4DirectCounter:
    id: int
    name: str
    alias: str
    unit: str
    table_id: int


@dataclass(frozen=True, slots=True)
class P4Table:
    id: int
    name: str
    alias: str
    match_fields: NameIdMap[P4MatchField]
    action_refs: tuple[P4ActionRef, ...]
    const_default_action_id: int
    size: int
    is_const: bool
    direct_counter: P4DirectCounter | None

    def action_ref(self, action: str | int) -> P4ActionRef:
        for ref in self.action_refs:
            if action in (ref.action.id, ref.action.name, ref.action.alias):
                return ref
        allowed = ", ".join(ref.action.alias for ref in self.action_refs)
        raise P4SchemaError(f"table {self.name!r} has no action {action!r} (it has: {allowed})")

    @property
    def has_const_default_action(self) -> bool:
        return self.const_default_action_id != 0


@dataclass(frozen=True, slots=True)
class P4PacketMetadata:
    """A controller header (packet_in / packet_out) and its fields."""

    id: int
    name: str
    alias: str
    fields: NameIdMap[P4Param]


class P4Schema:
    """The P4Info of one pipeline, as typed read-only objects."""

    def __init__(self, p4info: p4i.P4Info) -> None:
        self.p4info = p4info
        self.actions: NameIdMap[P4Action] = NameIdMap(
            "action", (_action(a) for a in p4info.actions)
        )
        counters = [_direct_counter(c) for c in p4info.direct_counters]
        self.direct_counters: NameIdMap[P4DirectCounter] = NameIdMap("direct counter", counters)
        by_table = {c.table_id: c for c in counters}
        self.tables: NameIdMap[P4Table] = NameIdMap(
            "table", (self._table(t, by_table.get(t.preamble.id)) for t in p4info.tables)
        )
        self.packet_metadata: NameIdMap[P4PacketMetadata] = NameIdMap(
            "controller packet metadata",
            (_packet_metadata(m) for m in p4info.controller_packet_metadata),
        )

    @classmethod
    def from_text(cls, text: str, origin: str = "<text>") -> P4Schema:
        p4info = p4i.P4Info()
        try:
            text_format.Parse(text, p4info)
        except text_format.ParseError as exc:
            raise P4SchemaError(f"{origin}: not a P4Info in text format: {exc}") from exc
        if not p4info.tables and not p4info.actions:
            raise P4SchemaError(f"{origin}: the P4Info has no tables and no actions")
        return cls(p4info)

    @classmethod
    def from_binary(cls, data: bytes, origin: str = "<bytes>") -> P4Schema:
        p4info = p4i.P4Info()
        try:
            p4info.ParseFromString(data)
        except DecodeError as exc:
            raise P4SchemaError(f"{origin}: not a binary P4Info: {exc}") from exc
        return cls(p4info)

    @classmethod
    def load(cls, path: str | Path) -> P4Schema:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise P4SchemaError(f"cannot read P4Info {path}: {exc.strerror}") from exc
        return cls.from_text(text, str(path))

    def _table(self, msg: p4i.Table, counter: P4DirectCounter | None) -> P4Table:
        refs = tuple(
            P4ActionRef(self.actions[r.id], ActionScope(r.scope)) for r in msg.action_refs
        )
        return P4Table(
            id=msg.preamble.id,
            name=msg.preamble.name,
            alias=msg.preamble.alias or msg.preamble.name,
            match_fields=NameIdMap(
                f"match field of {msg.preamble.name}",
                (
                    P4MatchField(f.id, f.name, f.bitwidth, MatchKind(f.match_type))
                    for f in msg.match_fields
                ),
            ),
            action_refs=refs,
            const_default_action_id=msg.const_default_action_id,
            size=msg.size,
            is_const=msg.is_const_table,
            direct_counter=counter,
        )


def _action(msg: p4i.Action) -> P4Action:
    return P4Action(
        id=msg.preamble.id,
        name=msg.preamble.name,
        alias=msg.preamble.alias or msg.preamble.name,
        params=NameIdMap(
            f"parameter of {msg.preamble.name}",
            (P4Param(p.id, p.name, p.bitwidth) for p in msg.params),
        ),
    )


def _direct_counter(msg: p4i.DirectCounter) -> P4DirectCounter:
    return P4DirectCounter(
        id=msg.preamble.id,
        name=msg.preamble.name,
        alias=msg.preamble.alias or msg.preamble.name,
        unit=p4i.CounterSpec.Unit.Name(msg.spec.unit),
        table_id=msg.direct_table_id,
    )


def _packet_metadata(msg: p4i.ControllerPacketMetadata) -> P4PacketMetadata:
    return P4PacketMetadata(
        id=msg.preamble.id,
        name=msg.preamble.name,
        alias=msg.preamble.alias or msg.preamble.name,
        fields=NameIdMap(
            f"field of {msg.preamble.name}",
            (P4Param(m.id, m.name, m.bitwidth) for m in msg.metadata),
        ),
    )
