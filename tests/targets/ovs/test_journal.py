"""The device journal: what a store held comes back from it, as the store had it; what
is not to be trusted is not."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

from ctrl.p4rt.entity import MulticastGroupEntry, Replica, TableEntry
from ctrl.p4rt.proto import p4r
from ctrl.p4rt.schema import P4Schema
from ctrl.targets.ovs import flowenc, pipeline
from ctrl.targets.ovs.flows import Flow, FlowCommand, FlowMod, GroupCommand, GroupMod
from ctrl.targets.ovs.journal import COMPACT_SLACK, Journal
from ctrl.targets.ovs.store import EntryStore

FWD = [TableEntry("bridging", {"vnet_id": 10, "eth_dst": 0x020000000000 + i},
                  "bridging.forward", {"port": 1 + i % 4}) for i in range(20)]
GROUP = MulticastGroupEntry(3, (Replica(1), Replica(2)))


def _config(schema: P4Schema) -> p4r.ForwardingPipelineConfig:
    return p4r.ForwardingPipelineConfig(p4info=schema.p4info, p4_device_config=b"{}",
                                        cookie=p4r.ForwardingPipelineConfig.Cookie(cookie=42))


def _updates(kind: int, entities: Sequence[TableEntry | MulticastGroupEntry], schema: P4Schema
             ) -> list[p4r.Update]:
    out = []
    for e in entities:
        ent = p4r.Entity()
        if isinstance(e, TableEntry):
            ent.table_entry.CopyFrom(e.encode(schema))
        else:
            ent.packet_replication_engine_entry.multicast_group_entry.CopyFrom(e.encode())
        out.append(p4r.Update(type=cast("p4r.Update.Type", kind), entity=ent))
    return out


def _write(store: EntryStore, journal: Journal, kind: int,
           entities: Sequence[TableEntry | MulticastGroupEntry]) -> None:
    plan = store.plan_updates(_updates(kind, entities, store.schema))
    assert plan.ok
    change = plan.change(store)
    plan.commit()
    if journal.append(change, len(store.entries)):
        journal.reset(_config(store.schema), store.snapshot())


def _same(a: EntryStore, b: EntryStore) -> None:
    assert {k: (s.entry, s.cookie) for k, s in a.entries.items()} == \
        {k: (s.entry, s.cookie) for k, s in b.entries.items()}
    def counts(s: EntryStore) -> dict[str, int]:
        return {t: n for t, n in s.table_counts.items() if n}
    assert (a.groups, a.ovs_groups, a.next_cookie, counts(a)) == \
        (b.groups, b.ovs_groups, b.next_cookie, counts(b))


def test_the_store_comes_back_with_its_cookies(tmp_path: Path, schema: P4Schema) -> None:
    journal = Journal(tmp_path / "j", "br", "uuid-1", 1)
    journal.reset(_config(schema))
    store = EntryStore(schema)
    _write(store, journal, p4r.Update.INSERT, [*FWD, GROUP])
    _write(store, journal, p4r.Update.DELETE, FWD[:5])
    moved = [TableEntry(e.table, e.match, e.action, {"port": 7}) for e in FWD[5:8]]
    _write(store, journal, p4r.Update.MODIFY, moved)
    _write(store, journal, p4r.Update.DELETE, [GROUP])
    saved = Journal(tmp_path / "j", "br", "uuid-1", 1).load()
    assert saved is not None and saved.config == _config(schema)
    _same(EntryStore.of_saved(schema, None, saved), store)


def test_a_torn_last_line_ends_the_records(tmp_path: Path, schema: P4Schema) -> None:
    journal = Journal(tmp_path / "j", "br", "u", 1)
    journal.reset(_config(schema))
    store = EntryStore(schema)
    _write(store, journal, p4r.Update.INSERT, FWD[:3])
    journal.close()
    with (tmp_path / "j").open("ab") as f:
        f.write(b'{"e": [["bridging", {"vnet_id"')  # killed mid-write
    saved = Journal(tmp_path / "j", "br", "u", 1).load()
    assert saved is not None
    _same(EntryStore.of_saved(schema, None, saved), store)


def test_another_bridge_row_or_device_is_not_trusted(tmp_path: Path, schema: P4Schema) -> None:
    journal = Journal(tmp_path / "j", "br", "u", 1)
    journal.reset(_config(schema))
    assert Journal(tmp_path / "j", "br", "made-anew", 1).load() is None
    assert Journal(tmp_path / "j", "br", "u", 2).load() is None
    assert Journal(tmp_path / "none", "br", "u", 1).load() is None
    (tmp_path / "j").write_bytes(b"not json\n")
    assert Journal(tmp_path / "j", "br", "u", 1).load() is None


def test_records_past_the_slack_are_compacted(tmp_path: Path, schema: P4Schema) -> None:
    journal = Journal(tmp_path / "j", "br", "u", 1)
    journal.reset(_config(schema))
    store = EntryStore(schema)
    e = FWD[0]
    for _ in range(COMPACT_SLACK // 2 + 2):  # in and out: the store stays small
        _write(store, journal, p4r.Update.INSERT, [e])
        _write(store, journal, p4r.Update.DELETE, [e])
    assert len((tmp_path / "j").read_bytes().splitlines()) < COMPACT_SLACK // 2
    saved = Journal(tmp_path / "j", "br", "u", 1).load()
    assert saved is not None
    _same(EntryStore.of_saved(schema, None, saved), store)


def test_restore_touches_only_what_differs(schema: P4Schema) -> None:
    store = EntryStore(schema)
    plan = store.plan_updates(_updates(p4r.Update.INSERT, [*FWD[:3], GROUP], schema))
    plan.commit()
    base = pipeline.pipeline_flows()
    intact = {0: len(base), 1: 1, 2: 1, 3: 1}
    assert store.restore_messages(base, intact) == []  # the target alone died: nothing
    # Entry 3's flows gone, entry 2's half there (impossible but told), 99 not ours.
    msgs = store.restore_messages(base, {0: len(base), 1: 1, 2: 2, 99: 4})
    by_cookie = {s.cookie: s.entry for s in store.entries.values()}
    assert msgs == [GroupMod(GroupCommand.ADD_OR_MOD, 3, pipeline.group_buckets(GROUP)),
                    *flowenc.delete_entry(by_cookie[2], 2), *flowenc.add_entry(by_cookie[2], 2),
                    *flowenc.add_entry(by_cookie[3], 3),
                    FlowMod(FlowCommand.DELETE, Flow(0xFF, 0, cookie=99),
                            cookie_mask=(1 << 64) - 1)]
    # A bridge made empty (ovs-vswitchd restarted): the pipeline's flows too.
    assert store.restore_messages(base, {})[1:len(base) + 1] == base


def test_a_modify_takes_a_new_cookie(schema: P4Schema) -> None:
    store = EntryStore(schema)
    store.plan_updates(_updates(p4r.Update.INSERT, [FWD[0]], schema)).commit()
    before = next(iter(store.entries.values())).cookie
    moved = TableEntry(FWD[0].table, FWD[0].match, FWD[0].action, {"port": 9})
    store.plan_updates(_updates(p4r.Update.MODIFY, [moved], schema)).commit()
    assert next(iter(store.entries.values())).cookie != before
