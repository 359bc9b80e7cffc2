"""One device of the sink target: what a P4Runtime switch holds, as bytes, and nothing
that forwards.

It takes Writes as a switch does (INSERT of an entry it has: ALREADY_EXISTS; MODIFY or
DELETE of one it has not: NOT_FOUND; a table at its P4Info size: RESOURCE_EXHAUSTED),
keeps each entry as the Entity bytes it was written with, keyed as P4Runtime keys it
(table, match, priority), and answers Read with those bytes. It is a subclass of the
Open vSwitch target's Device so that the OVS target's P4Runtime servicer (arbitration,
pipeline, the Write request's own checks) serves it unchanged; no bridge is behind it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ctrl.p4rt.entity import MulticastGroupEntry, TableEntry
from ctrl.p4rt.proto import p4r, rpc_code
from ctrl.p4rt.schema import P4Schema
from ctrl.p4rt.values import encode_value
from ctrl.p4rt.wire import read_varint as _varint
from ctrl.targets.ovs.device import Device, Pipeline
from ctrl.targets.ovs.fastwrite import DecodedWrite, WriteParser, parse_request
from ctrl.targets.ovs.store import EntryStore, Plan
from ctrl.targets.ovs.validate import Parsed, Rejected

log = logging.getLogger(__name__)

# (device id, port, payload) of a frame the device sends out of a port.
Wire = Callable[[int, int, bytes], None]
Key = object


@dataclass(slots=True)
class SinkDevice(Device):
    """A device with no bridge: entries kept as bytes, frames out handed to `wire`."""

    # table id -> key -> Entity bytes; multicast groups under 0, by group id
    tables: dict[int, dict[Key, bytes]] = field(default_factory=dict)
    access: dict[int, int] = field(default_factory=dict)   # port -> vnet (ingress_port entries)
    wire: Wire | None = None
    writes: int = 0

    @classmethod
    def named(cls, device_id: int, name: str, wire: Wire | None = None) -> SinkDevice:
        return cls(device_id, name, Path("/nonexistent"), wire=wire)

    async def open(self) -> None:
        return None

    async def close(self, keep: bool = False) -> None:
        return None

    def held(self) -> int:
        return sum(len(t) for t in self.tables.values())

    async def set_pipeline(self, schema: P4Schema, config: p4r.ForwardingPipelineConfig,
                           parser: WriteParser | None = None, reconcile: bool = False
                           ) -> None:
        """VERIFY_AND_COMMIT clears what the device holds; RECONCILE_AND_COMMIT keeps it."""
        if not reconcile or self.pipeline is None:
            self.tables.clear()
            self.access.clear()
        self.pipeline = Pipeline(schema, config, EntryStore(schema), parser)

    async def write(self, request: p4r.WriteRequest | DecodedWrite, rollback: bool) -> Plan:
        assert self.pipeline is not None
        pl = self.pipeline
        results = parse_request(request, pl.schema, pl.parser)
        raws = list(_entities(request))
        staged: dict[tuple[int, Key], bytes | None] = {}
        ports: dict[int, int | None] = {}   # access ports as the batch leaves them
        counts: dict[int, int] = {}
        statuses: list[tuple[int, str]] = []
        for parsed, raw in zip(results, raws, strict=True):
            try:
                statuses.append(self._stage(parsed, raw, staged, counts, ports))
            except Rejected as exc:
                statuses.append((exc.code, exc.message))
        if rollback and any(c != rpc_code.OK for c, _ in statuses):
            return Plan([(c, m) if c != rpc_code.OK else
                         (rpc_code.ABORTED, "not applied: another update of the batch failed")
                         for c, m in statuses], [], _nothing)
        for (table, key), entity in staged.items():
            held = self.tables.setdefault(table, {})
            if entity is None:
                held.pop(key, None)
            else:
                held[key] = entity
        for port, vnet in ports.items():
            if vnet is None:
                self.access.pop(port, None)
            else:
                self.access[port] = vnet
        self.writes += len(statuses)
        return Plan(statuses, [], _nothing)

    def _stage(self, parsed: Parsed | Rejected, raw: bytes,
               staged: dict[tuple[int, Key], bytes | None], counts: dict[int, int],
               ports: dict[int, int | None]) -> tuple[int, str]:
        if isinstance(parsed, Rejected):
            raise parsed
        assert self.pipeline is not None
        e = parsed.entity
        if isinstance(e, TableEntry):
            if e.is_default:
                raise Rejected(rpc_code.UNIMPLEMENTED, "default entries are const")
            table = self.pipeline.schema.tables[e.table]
            where: tuple[int, Key] = (table.id, e.key())
            have = (staged[where] if where in staged
                    else self.tables.get(table.id, {}).get(where[1]))
            if parsed.kind == p4r.Update.INSERT:
                if have is not None:
                    raise Rejected(rpc_code.ALREADY_EXISTS, f"{e.table}: entry exists")
                count = counts.get(table.id, len(self.tables.get(table.id, {})))
                if table.size and count >= table.size:
                    raise Rejected(rpc_code.RESOURCE_EXHAUSTED,
                                   f"{e.table}: table full ({table.size} entries)")
                counts[table.id] = count + 1
            elif have is None:
                raise Rejected(rpc_code.NOT_FOUND, f"{e.table}: no such entry")
            elif parsed.kind == p4r.Update.DELETE:
                counts[table.id] = counts.get(table.id, len(self.tables[table.id])) - 1
            staged[where] = None if parsed.kind == p4r.Update.DELETE else raw
            if e.table == "ingress_port":
                access = parsed.kind != p4r.Update.DELETE \
                    and e.action == "ingress_port.set_access"
                ports[int(e.match["ingress_port"])] = (int(e.params["vnet_id"]) if access
                                                       else None)
            return rpc_code.OK, ""
        assert isinstance(e, MulticastGroupEntry)
        gwhere: tuple[int, Key] = (0, e.group_id)
        have = staged[gwhere] if gwhere in staged else self.tables.get(0, {}).get(e.group_id)
        if parsed.kind == p4r.Update.INSERT and have is not None:
            raise Rejected(rpc_code.ALREADY_EXISTS, f"multicast group {e.group_id} exists")
        if parsed.kind != p4r.Update.INSERT and have is None:
            raise Rejected(rpc_code.NOT_FOUND, f"no multicast group {e.group_id}")
        staged[gwhere] = None if parsed.kind == p4r.Update.DELETE else raw
        return rpc_code.OK, ""

    def entities(self, table_id: int | None = None) -> Iterator[bytes]:
        """The Entity bytes of one table's entries (None: every table's; 0: the multicast
        groups)."""
        if table_id is not None:
            yield from self.tables.get(table_id, {}).values()
            return
        for tid, held in self.tables.items():
            if tid:
                yield from held.values()

    async def counters(self) -> dict[int, object]:   # type: ignore[override]
        return {}

    async def packet_out(self, payload: bytes, egress_port: int, mcast_grp: int) -> None:
        if self.wire is not None and not mcast_grp:
            self.wire(self.device_id, egress_port, payload)

    def punt(self, port: int, payload: bytes, reason: int) -> None:
        """A frame punted from `port` to the primary controller, as mobility.p4 punts it:
        with the port's virtual network from its ingress_port entry (0: none)."""
        if self.pipeline is None or self.packet_in_sink is None:
            return
        meta = self.pipeline.schema.packet_metadata.get("packet_in")
        if meta is None:
            return
        values = {"ingress_port": port, "reason": reason, "vnet_id": self.access.get(port, 0)}
        msg = p4r.PacketIn(payload=payload)
        for f in meta.fields:
            value = values.get(f.name, 0) & ((1 << f.bitwidth) - 1)
            msg.metadata.add(metadata_id=f.id,
                             value=encode_value(value, f.bitwidth, f"packet_in.{f.name}"))
        self.packet_in_sink(msg)


def _nothing() -> None:
    return None


def _entities(request: p4r.WriteRequest | DecodedWrite) -> Iterator[bytes]:
    """Each update's Entity, as bytes: sliced from the request where C decoded it."""
    if isinstance(request, DecodedWrite):
        c = request.batch.columns
        data = request.data
        for off, length in zip(c.u_offset.tolist(), c.u_length.tolist(), strict=True):
            yield _field_2(data, off, off + length)
        return
    for u in request.updates:
        yield u.entity.SerializeToString()


def _field_2(data: bytes, start: int, end: int) -> bytes:
    """The bytes of field 2 (Update.entity) of the message data[start:end]."""
    i = start
    while i < end:
        tag, i = _varint(data, i)
        kind = tag & 7
        if kind == 0:
            _, i = _varint(data, i)
        elif kind == 2:
            n, i = _varint(data, i)
            if tag >> 3 == 2:
                return data[i:i + n]
            i += n
        elif kind == 5:
            i += 4
        elif kind == 1:
            i += 8
        else:
            break
    return b""

