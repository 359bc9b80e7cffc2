"""P4Runtime request validation, as the specification says, per update. Pure.

`parse_update` turns one p4.v1.Update into a checked entity or raises `Rejected`
with the canonical code of the P4Runtime specification (section 12):
INVALID_ARGUMENT for unknown ids, missing, duplicate or extra fields and
parameters, priorities on exact tables, misused default entries, is_const set; OUT_OF_RANGE
for a value wider than its field; PERMISSION_DENIED for a const default action;
UNIMPLEMENTED for entities this target does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from ctrl.errors import MobilityError
from ctrl.p4rt.entity import MulticastGroupEntry, Replica, TableEntry
from ctrl.p4rt.proto import p4r, rpc_code
from ctrl.p4rt.schema import MatchKind, P4Schema, P4Table

PORT_BITS = 9
RID_BITS = 16  # v1model's egress_rid


class Rejected(MobilityError, ValueError):
    """One update (or request) refused, with its google.rpc code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _invalid(message: str) -> Rejected:
    return Rejected(rpc_code.INVALID_ARGUMENT, message)


def _value(data: bytes, bitwidth: int, what: str) -> int:
    if not data:
        raise _invalid(f"{what}: empty byte string")
    value = int.from_bytes(data, "big")
    if value.bit_length() > bitwidth:
        raise Rejected(rpc_code.OUT_OF_RANGE,
                       f"{what}: value {value:#x} does not fit in {bitwidth} bits")
    return value


@dataclass(frozen=True, slots=True)
class Parsed:
    kind: int  # p4r.Update.Type
    entity: TableEntry | MulticastGroupEntry


def parse_table_entry(msg: p4r.TableEntry, schema: P4Schema, kind: int) -> TableEntry:
    table = schema.tables.get(msg.table_id)
    if table is None:
        raise _invalid(f"unknown table id {msg.table_id}")
    if msg.is_default_action:
        if kind != p4r.Update.MODIFY:
            raise _invalid(f"{table.name}: the default entry can only be modified")
        if msg.match:
            raise _invalid(f"{table.name}: a default entry has no match fields")
        if table.has_const_default_action:
            raise Rejected(rpc_code.PERMISSION_DENIED,
                           f"{table.name}: the default action is const")
    if msg.is_const:
        raise _invalid(f"{table.name}: is_const is set by the server, never by a Write")
    if msg.priority != 0:
        raise _invalid(f"{table.name}: priority {msg.priority} on an exact-match table")
    _check_direct_resources(msg, table, kind)
    match: dict[str, int] = {}
    for fm in msg.match:
        mf = table.match_fields.get(fm.field_id)
        if mf is None:
            raise _invalid(f"{table.name}: unknown match field id {fm.field_id}")
        if mf.name in match:
            raise _invalid(f"{table.name}: match field {mf.name} given twice")
        if mf.kind is not MatchKind.EXACT or fm.WhichOneof("field_match_type") != "exact":
            raise _invalid(f"{table.name}.{mf.name}: only an exact match is allowed")
        match[mf.name] = _value(fm.exact.value, mf.bitwidth, f"{table.name}.{mf.name}")
    if not msg.is_default_action:
        missing = [f.name for f in table.match_fields if f.name not in match]
        if missing:
            raise _invalid(f"{table.name}: exact match field {', '.join(missing)} missing")
    action, params = "", {}
    which = msg.action.WhichOneof("type")
    if which not in (None, "action"):
        raise _invalid(f"{table.name}: {which} is not supported (direct actions only)")
    if which is None:
        if kind != p4r.Update.DELETE:
            raise _invalid(f"{table.name}: the entry names no action")
    else:
        act_msg = msg.action.action
        act = schema.actions.get(act_msg.action_id)
        if act is None:
            raise _invalid(f"{table.name}: unknown action id {act_msg.action_id}")
        ref = next((r for r in table.action_refs if r.action.id == act.id), None)
        if ref is None:
            raise _invalid(f"{table.name}: action {act.name} is not an action of this table")
        if not msg.is_default_action and not ref.allowed_in_entries:
            raise _invalid(f"{table.name}: {act.name} is only for the default entry")
        for p in act_msg.params:
            param = act.params.get(p.param_id)
            if param is None:
                raise _invalid(f"{act.name}: unknown parameter id {p.param_id}")
            if param.name in params:
                raise _invalid(f"{act.name}: parameter {param.name} given twice")
            params[param.name] = _value(p.value, param.bitwidth, f"{act.name}.{param.name}")
        missing = [p.name for p in act.params if p.name not in params]
        if missing:
            raise _invalid(f"{act.name}: missing parameter {', '.join(missing)}")
        action = act.name
    return TableEntry(table.name, match, action, params, 0, msg.is_default_action)


def _check_direct_resources(msg: p4r.TableEntry, table: P4Table, kind: int) -> None:
    """What PI answers for resources a table lacks; and what OpenFlow cannot do: a flow's
    counters start at 0 and cannot be set, so a Write may only ask for that. A DELETE
    names its entry by the key alone."""
    if kind == p4r.Update.DELETE:
        return
    if msg.HasField("meter_config"):
        raise _invalid(f"{table.name}: the table has no direct meters")
    if msg.idle_timeout_ns != 0:
        raise _invalid(f"{table.name}: idle_timeout_ns must be 0: the table has no idle timeout")
    if not msg.HasField("counter_data"):
        return
    if table.direct_counter is None:
        raise _invalid(f"{table.name}: the table has no direct counters")
    data = msg.counter_data
    if kind != p4r.Update.INSERT or data.packet_count or data.byte_count:
        raise Rejected(rpc_code.UNIMPLEMENTED,
                       f"{table.name}: a flow's counters cannot be set on this target; "
                       "an INSERT may only give them as 0")


def parse_group(msg: p4r.MulticastGroupEntry) -> MulticastGroupEntry:
    if msg.multicast_group_id == 0:
        raise _invalid("multicast group id 0 is not a group")
    seen: set[tuple[int, int]] = set()
    replicas = []
    for r in msg.replicas:
        if r.WhichOneof("port_kind") == "port":
            port = _value(r.port, PORT_BITS, "replica port")
        else:
            port = r.egress_port
            if port.bit_length() > PORT_BITS:
                raise Rejected(rpc_code.OUT_OF_RANGE,
                               f"replica port {port} does not fit in {PORT_BITS} bits")
        if r.instance.bit_length() > RID_BITS:
            raise Rejected(rpc_code.OUT_OF_RANGE,
                           f"replica instance {r.instance} does not fit in {RID_BITS} bits "
                           "(egress_rid: the tunnel id of a copy into a tunnel)")
        if (port, r.instance) in seen:
            raise _invalid(f"replica (port {port}, instance {r.instance}) given twice")
        seen.add((port, r.instance))
        replicas.append(Replica(port, r.instance))
    return MulticastGroupEntry(msg.multicast_group_id, tuple(replicas))


def parse_update(update: p4r.Update, schema: P4Schema) -> Parsed:
    if update.type not in (p4r.Update.INSERT, p4r.Update.MODIFY, p4r.Update.DELETE):
        raise _invalid("update type is unspecified")
    which = update.entity.WhichOneof("entity")
    if which == "table_entry":
        return Parsed(update.type, parse_table_entry(update.entity.table_entry, schema,
                                                     update.type))
    if which == "packet_replication_engine_entry":
        pre = update.entity.packet_replication_engine_entry
        if pre.WhichOneof("type") == "multicast_group_entry":
            return Parsed(update.type, parse_group(pre.multicast_group_entry))
        raise Rejected(rpc_code.UNIMPLEMENTED, "clone sessions are not supported")
    raise Rejected(rpc_code.UNIMPLEMENTED, f"entity {which!r} is not supported by this target")


def _signature(schema: P4Schema) -> dict[str, object]:
    return {
        "tables": {t.name: (tuple((f.name, f.bitwidth, f.kind.name) for f in t.match_fields),
                            tuple(sorted(r.action.name for r in t.action_refs)))
                   for t in schema.tables},
        "actions": {a.name: tuple((p.name, p.bitwidth) for p in a.params)
                    for a in schema.actions},
        "packet_metadata": {m.name: tuple((f.name, f.bitwidth) for f in m.fields)
                            for m in schema.packet_metadata},
    }


def check_program(schema: P4Schema, reference: P4Schema) -> None:
    """Refuse any P4Info but mobility.p4's (same tables, actions, widths, metadata)."""
    got, want = _signature(schema), _signature(reference)
    if got == want:
        return
    diffs = []
    for part in ("tables", "actions", "packet_metadata"):
        g, w = got[part], want[part]
        assert isinstance(g, dict) and isinstance(w, dict)
        if extra := sorted(set(g) - set(w)):
            diffs.append(f"{part} not in mobility.p4: {', '.join(extra[:5])}")
        if missing := sorted(set(w) - set(g)):
            diffs.append(f"{part} missing: {', '.join(missing[:5])}")
        if changed := sorted(k for k in set(g) & set(w) if g[k] != w[k]):
            diffs.append(f"{part} that differ: {', '.join(changed[:5])}")
    raise _invalid("this Open vSwitch target runs only mobility.p4; the P4Info differs: "
                   + "; ".join(diffs))
