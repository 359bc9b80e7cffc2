"""What a device holds: P4 entries and groups, and the OpenFlow messages a batch needs. Pure.

`EntryStore.plan(results)` takes what parse_update said of each update (a
Parsed entity or the Rejected error; `plan_updates` parses p4.v1.Updates first),
checks each in order against the store as the earlier updates of the batch left
it, and returns one status per update and the messages for the accepted ones;
`Plan.commit()` makes them the store's state once the switch has taken the
messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from ctrl.p4rt.entity import MulticastGroupEntry, TableEntry
from ctrl.p4rt.proto import p4r, rpc_code
from ctrl.p4rt.schema import P4Schema
from ctrl.targets.ovs import flowenc, pipeline, tunnel
from ctrl.targets.ovs.flows import Flow, FlowCommand, FlowMod, GroupCommand, GroupMod, Message
from ctrl.targets.ovs.journal import Change, Saved
from ctrl.targets.ovs.validate import Parsed, Rejected, parse_update

Key = tuple[str, tuple[tuple[str, int], ...]]


@dataclass(slots=True)
class Stored:
    entry: TableEntry
    cookie: int


def entry_key(e: TableEntry) -> Key:
    return e.table, tuple(sorted(e.match.items()))  # type: ignore[arg-type]  # ints, built


@dataclass(slots=True)
class Plan:
    statuses: list[tuple[int, str]]  # (google.rpc code, message) per update
    messages: list[Message]
    commit: Callable[[], None]
    changes: dict[Key, Stored | None] = field(default_factory=dict)  # None: deleted
    group_changes: dict[int, MulticastGroupEntry | None] = field(default_factory=dict)
    ovs_groups: set[int] = field(default_factory=set)  # groups it puts on the bridge
    next_cookie: int = 1

    def change(self, before: EntryStore) -> Change:
        """What the plan leaves, as a journal record (`before`: the store it was planned
        on, for the entries it deletes)."""
        deleted = [before.entries[k].entry for k, v in self.changes.items()
                   if v is None and k in before.entries]
        return Change(((s.entry, s.cookie) for s in self.changes.values() if s is not None),
                      deleted, (g for g in self.group_changes.values() if g is not None),
                      [g for g, v in self.group_changes.items() if v is None],
                      self.ovs_groups, self.next_cookie)

    @property
    def ok(self) -> bool:
        return all(code == rpc_code.OK for code, _ in self.statuses)


@dataclass(slots=True)
class EntryStore:
    schema: P4Schema
    gre: pipeline.GreLayout | None = None  # None: the bridge has no GRE port
    entries: dict[Key, Stored] = field(default_factory=dict)
    groups: dict[int, MulticastGroupEntry] = field(default_factory=dict)
    ovs_groups: set[int] = field(default_factory=set)  # groups that exist on the bridge
    table_counts: dict[str, int] = field(default_factory=dict)
    next_cookie: int = 1

    def plan_updates(self, updates: Sequence[p4r.Update], rollback_on_error: bool = False
                     ) -> Plan:
        """plan() of p4.v1.Updates, each parsed by parse_update."""
        results: list[Parsed | Rejected] = []
        for u in updates:
            try:
                results.append(parse_update(u, self.schema))
            except Rejected as exc:
                results.append(exc)
        return self.plan(results, rollback_on_error)

    def plan(self, results: Sequence[Parsed | Rejected], rollback_on_error: bool = False
             ) -> Plan:
        entries: dict[Key, Stored | None] = {}
        groups: dict[int, MulticastGroupEntry | None] = {}
        ovs_groups: set[int] = set()
        counts: dict[str, int] = {}
        statuses: list[tuple[int, str]] = []
        messages: list[Message] = []
        cookie = self.next_cookie

        def get_entry(k: Key) -> Stored | None:
            return entries[k] if k in entries else self.entries.get(k)

        def has_group(g: int) -> bool:
            return (groups[g] is not None) if g in groups else g in self.groups

        def ensure_ovs_group(g: int, out: list[Message]) -> None:
            if g not in self.ovs_groups and g not in ovs_groups:
                out.append(GroupMod(GroupCommand.ADD, g))
                ovs_groups.add(g)

        for parsed in results:
            if isinstance(parsed, Rejected):
                statuses.append((parsed.code, parsed.message))
                continue
            msgs: list[Message] = []
            try:
                e = parsed.entity
                if isinstance(e, TableEntry):
                    if e.is_default:  # only a MODIFY of a non-const default gets here
                        raise Rejected(rpc_code.UNIMPLEMENTED, "default entries are const")
                    k = entry_key(e)
                    old = get_entry(k)
                    if parsed.kind != p4r.Update.DELETE:
                        tunnel.check_entry(e, self.gre is not None)
                    if parsed.kind == p4r.Update.INSERT:
                        if old is not None:
                            raise Rejected(rpc_code.ALREADY_EXISTS, f"{e.table}: entry exists")
                        count = counts.get(e.table, self.table_counts.get(e.table, 0))
                        size = self.schema.tables[e.table].size
                        if size and count >= size:
                            raise Rejected(rpc_code.RESOURCE_EXHAUSTED,
                                           f"{e.table}: table full ({size} entries)")
                        for g in pipeline.group_ids_used(e):
                            ensure_ovs_group(g, msgs)
                        msgs += flowenc.add_entry(e, cookie, self.gre)
                        entries[k] = Stored(e, cookie)
                        counts[e.table] = count + 1
                        cookie += 1
                    elif old is None:
                        raise Rejected(rpc_code.NOT_FOUND, f"{e.table}: no such entry")
                    elif parsed.kind == p4r.Update.MODIFY:
                        for g in pipeline.group_ids_used(e):
                            ensure_ovs_group(g, msgs)
                        # A cookie of its own: a cookie names one version of an entry's
                        # flows, so a restart can tell the bridge's from the journal's.
                        msgs += flowenc.delete_entry(old.entry, old.cookie)
                        msgs += flowenc.add_entry(e, cookie, self.gre)
                        entries[k] = Stored(e, cookie)
                        cookie += 1
                    else:
                        msgs += flowenc.delete_entry(old.entry, old.cookie)
                        entries[k] = None
                        counts[e.table] = counts.get(e.table,
                                                     self.table_counts.get(e.table, 0)) - 1
                else:
                    exists = has_group(e.group_id)
                    if parsed.kind == p4r.Update.INSERT and exists:
                        raise Rejected(rpc_code.ALREADY_EXISTS,
                                       f"multicast group {e.group_id} exists")
                    if parsed.kind != p4r.Update.INSERT and not exists:
                        raise Rejected(rpc_code.NOT_FOUND, f"no multicast group {e.group_id}")
                    on_bridge = e.group_id in self.ovs_groups or e.group_id in ovs_groups
                    command = GroupCommand.MODIFY if on_bridge else GroupCommand.ADD
                    if parsed.kind == p4r.Update.DELETE:
                        # Kept on the bridge, empty: flows that name it stay valid.
                        msgs.append(GroupMod(GroupCommand.MODIFY, e.group_id))
                        groups[e.group_id] = None
                    else:
                        msgs.append(GroupMod(command, e.group_id, pipeline.group_buckets(e)))
                        groups[e.group_id] = e
                    ovs_groups.add(e.group_id)
            except Rejected as exc:
                statuses.append((exc.code, exc.message))
                continue
            statuses.append((rpc_code.OK, ""))
            messages += msgs

        if rollback_on_error and any(c != rpc_code.OK for c, _ in statuses):
            statuses = [(c, m) if c != rpc_code.OK else
                        (rpc_code.ABORTED, "not applied: another update of the batch failed")
                        for c, m in statuses]
            return Plan(statuses, [], lambda: None)

        def commit() -> None:
            for k, v in entries.items():
                if v is None:
                    self.entries.pop(k, None)
                else:
                    self.entries[k] = v
            for g, ge in groups.items():
                if ge is None:
                    self.groups.pop(g, None)
                else:
                    self.groups[g] = ge
            self.ovs_groups |= ovs_groups
            self.table_counts.update(counts)
            self.next_cookie = cookie

        return Plan(statuses, messages, commit, entries, groups, ovs_groups, cookie)

    @classmethod
    def of_saved(cls, schema: P4Schema, gre: pipeline.GreLayout | None, saved: Saved
                 ) -> EntryStore:
        """The store a journal kept (ctrl/targets/ovs/journal.py)."""
        store = cls(schema, gre, groups=dict(saved.groups), ovs_groups=set(saved.ovs_groups),
                    next_cookie=saved.next_cookie)
        for k, (e, cookie) in saved.entries.items():
            store.entries[k] = Stored(e, cookie)
            store.table_counts[e.table] = store.table_counts.get(e.table, 0) + 1
        return store

    def snapshot(self) -> Change:
        """All the store holds, as one journal record."""
        return Change([(s.entry, s.cookie) for s in self.entries.values()], (),
                      list(self.groups.values()), (), set(self.ovs_groups), self.next_cookie)

    def restore_messages(self, base: Sequence[Message], flows: Mapping[int, int]
                         ) -> list[Message]:
        """What makes a bridge that holds `flows` (cookie -> number of flows) hold exactly
        this store, touching nothing that is right already. A cookie names one version of
        an entry's flows (a MODIFY takes a new one) and a bundle lands whole, so an entry
        whose cookie has its number of flows on the bridge is there as the journal says.
        The others are added (their cookie's flows deleted first), `base` (the pipeline's
        own flows, cookie 0) added again unless all are there (each replaces its twin in
        place), every group added or modified, and the flows of cookies the store does
        not know deleted (a Write whose reply never left). One atomic bundle: the datapath
        sees the tables before it or after it. Nothing, where the bridge is as it was."""
        out: list[Message] = []
        if flows.get(0, 0) != len(base):
            out += base
        for s in self.entries.values():
            adds = flowenc.add_entry(s.entry, s.cookie, self.gre)
            if flows.get(s.cookie, 0) == len(adds):
                continue
            if s.cookie in flows:
                out += flowenc.delete_entry(s.entry, s.cookie)
            out += adds
        known = {0, *(s.cookie for s in self.entries.values())}
        for c in sorted(set(flows) - known):
            out.append(FlowMod(FlowCommand.DELETE, Flow(0xFF, 0, cookie=c),
                               cookie_mask=(1 << 64) - 1))
        if out:  # groups before the flows that name them
            out[:0] = [GroupMod(GroupCommand.ADD_OR_MOD, g, pipeline.group_buckets(group)
                                if (group := self.groups.get(g)) is not None else ())
                       for g in sorted(self.ovs_groups | set(self.groups))]
        return out

    def entries_with(self, changes: dict[Key, Stored | None]) -> Iterator[TableEntry]:
        """The entries as they will be once `changes` (a Plan's) are committed."""
        for k, stored in self.entries.items():
            if k not in changes:
                yield stored.entry
        yield from (s.entry for s in changes.values() if s is not None)

    def read_entries(self, table: str | None = None,
                     match: TableEntry | None = None) -> list[Stored]:
        if match is not None:
            got = self.entries.get(entry_key(match))
            return [got] if got is not None else []
        return [s for s in self.entries.values() if table is None or s.entry.table == table]
