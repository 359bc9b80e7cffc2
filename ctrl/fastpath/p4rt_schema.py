"""A P4Info in the compact arrays the C Write decoder checks updates against (ext/fp_p4rt.h).

Tables and actions are sorted by id; table t's match fields are
field_*[table_field_first[t] : table_field_first[t + 1]], in P4Info order, its
actions ref_*[table_ref_first[t] : ...] (ref_action indexes the actions), and
action a's parameters param_*[action_param_first[a] : ...]. The schema also
turns a fast update with verdict OK into the TableEntry parse_update() makes.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from dataclasses import dataclass

from ctrl.fastpath.p4rt_batch import FastUpdate
from ctrl.p4rt.entity import TableEntry
from ctrl.p4rt.schema import ActionScope, MatchKind, P4Schema

# Bits of table_flags, field_flags, ref_flags (enum fp_p4rt_schema_flag).
T_CONST_DEFAULT = 0x01
F_EXACT = 0x01
R_DEFAULT_ONLY = 0x01


@dataclass(frozen=True, slots=True)
class _Names:
    """Ids to names, for making TableEntry objects."""

    tables: Mapping[int, str]
    fields: Mapping[int, Mapping[int, str]]   # table id -> field id -> name
    actions: Mapping[int, str]
    params: Mapping[int, Mapping[int, str]]   # action id -> param id -> name


@dataclass(frozen=True, slots=True)
class CompiledSchema:
    """The arrays of fp_p4rt_schema, made once per P4Info (`from_p4schema`)."""

    schema: P4Schema
    table_id: array[int]
    table_flags: array[int]
    table_field_first: array[int]
    table_ref_first: array[int]
    field_id: array[int]
    field_bits: array[int]
    field_flags: array[int]
    ref_action: array[int]
    ref_flags: array[int]
    action_id: array[int]
    action_param_first: array[int]
    param_id: array[int]
    param_bits: array[int]
    names: _Names

    @classmethod
    def from_p4schema(cls, schema: P4Schema) -> CompiledSchema:
        """The arrays of a typed P4Info (whose ids are unique: P4Schema maps them)."""
        tables = sorted(schema.tables, key=lambda t: t.id)
        actions = sorted(schema.actions, key=lambda a: a.id)
        index = {a.id: i for i, a in enumerate(actions)}
        t_flags, t_fields, t_refs = array("B"), array("I", [0]), array("I", [0])
        f_id, f_bits, f_flags = array("I"), array("I"), array("B")
        r_action, r_flags = array("I"), array("B")
        for t in tables:
            t_flags.append(T_CONST_DEFAULT if t.has_const_default_action else 0)
            for f in t.match_fields:
                f_id.append(f.id)
                f_bits.append(f.bitwidth)
                f_flags.append(F_EXACT if f.kind is MatchKind.EXACT else 0)
            for ref in t.action_refs:
                r_action.append(index[ref.action.id])
                r_flags.append(R_DEFAULT_ONLY if ref.scope is ActionScope.DEFAULT_ONLY else 0)
            t_fields.append(len(f_id))
            t_refs.append(len(r_action))
        a_params, p_id, p_bits = array("I", [0]), array("I"), array("I")
        for a in actions:
            for p in a.params:
                p_id.append(p.id)
                p_bits.append(p.bitwidth)
            a_params.append(len(p_id))
        names = _Names(
            {t.id: t.name for t in tables},
            {t.id: {f.id: f.name for f in t.match_fields} for t in tables},
            {a.id: a.name for a in actions},
            {a.id: {p.id: p.name for p in a.params} for a in actions})
        return cls(schema, array("I", (t.id for t in tables)), t_flags, t_fields, t_refs,
                   f_id, f_bits, f_flags, r_action, r_flags,
                   array("I", (a.id for a in actions)), a_params, p_id, p_bits, names)

    def table_entry(self, update: FastUpdate) -> TableEntry:
        """The TableEntry parse_update() makes of a fast update whose verdict is OK."""
        n = self.names
        fields = n.fields[update.table_id]
        action, params = "", {}
        if update.action_id is not None:
            action = n.actions[update.action_id]
            names = n.params[update.action_id]
            params = {names[p]: v for p, v in update.params}
        return TableEntry(n.tables[update.table_id], {fields[f]: v for f, v in update.matches},
                          action, params, 0, update.is_default)

