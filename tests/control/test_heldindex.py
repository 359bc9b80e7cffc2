"""A read-back indexed by runs of rows alike (ctrl/control/heldindex.py's index) is exactly
the row-by-row reference (index_ref), in the same order, whatever the rows: runs long and
short, actions mixed, fields out of id order, default entries, rows C did not decode."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrl.control import heldindex
from ctrl.control.held import Held, HeldReader
from ctrl.control.heldindex import index, index_ref
from ctrl.control.readback import Run, read_rows, row_of
from ctrl.control.topology import PortRef
from ctrl.p4rt.entity import Entity, TableEntry
from ctrl.p4rt.proto import p4r
from ctrl.p4rt.schema import P4Schema

MAC = 0x020000000000


def _pool(i: int) -> list[TableEntry]:
    """Entries of every kind for one host `i`."""
    return [
        TableEntry("bridging", {"vnet_id": 1 + i % 2, "eth_dst": MAC + i}, "bridging.forward",
                   {"port": 1 + i % 5}),
        TableEntry("bridging", {"vnet_id": 3, "eth_dst": MAC + i}, "bridging.to_cpu"),
        TableEntry("bridging", {"vnet_id": 4, "eth_dst": MAC + i}, "bridging.flood",
                   {"group": 1 + i}),
        TableEntry("routing_v4", {"vnet_id": 1, "ipv4_dst": 0x0A000000 + i},
                   "routing_v4.route", {"src_mac": MAC, "dst_mac": MAC + i}),
        TableEntry("ingress_port", {"ingress_port": 1 + i}, "ingress_port.set_access",
                   {"vnet_id": 1 + i % 3}),
        TableEntry("my_station", {"vnet_id": 1 + i, "eth_dst": MAC}, "my_station.set_routable"),
    ]


def _update(e: TableEntry, schema: P4Schema, how: str) -> p4r.Update:
    msg = e.encode(schema)
    if how == "reversed":   # match fields out of id order: compared as entities
        fields = list(msg.match)[::-1]
        del msg.match[:]
        msg.match.extend(fields)
    return p4r.Update(entity=p4r.Entity(table_entry=msg))


def _held(reader: HeldReader, schema: P4Schema, entries: list[tuple[TableEntry, str]]
          ) -> Held:
    request = p4r.WriteRequest(updates=[_update(e, schema, how) for e, how in entries])
    return Held(reader, request.SerializeToString(), len(entries), [])


@st.composite
def _entries(draw: st.DrawFn) -> list[tuple[TableEntry, str]]:
    kinds = draw(st.lists(st.integers(0, 5), min_size=1, max_size=6))
    out: list[tuple[TableEntry, str]] = []
    for kind in kinds:   # runs of one kind, long or short
        n = draw(st.integers(0, 30))
        first = draw(st.integers(0, 40))
        for i in range(first, first + n):
            how = draw(st.sampled_from(["plain"] * 12 + ["reversed"]))
            out.append((_pool(i)[kind], how))
    if draw(st.booleans()):
        out = draw(st.permutations(out))
    return out


def _check(schema: P4Schema, entries: list[tuple[TableEntry, str]]) -> None:
    reader = HeldReader(schema)
    held = _held(reader, schema, entries)
    rows = reader._decode(held)
    fast = index(rows, reader._fields, reader._params, reader.compact)
    ref = index_ref(rows, reader._fields, reader._params, reader.compact)
    assert list(fast[0].items()) == list(ref[0].items())
    assert list(fast[1].items()) == list(ref[1].items())
    # and what the reference says is each entry's compact form, where it is
    made: dict[object, Entity] = {}
    for k, w in ref[1].items():
        made[k] = rows.entity(w) if isinstance(w, int) else w
    for k, e in made.items():
        assert reader.compact(e) == (k, ref[0][k])
    assert {e.key() for e in made.values()} == {e.key() for e, _ in entries}


@settings(max_examples=60, deadline=None)
@given(_entries())
def test_runs_index_as_the_rows_one_by_one(schema: P4Schema,
                                           entries: list[tuple[TableEntry, str]]) -> None:
    _check(schema, entries)


def test_long_runs_of_each_kind_and_a_default_entry(schema: P4Schema) -> None:
    entries = [(_pool(i)[kind], "plain") for kind in range(6) for i in range(40)]
    entries.insert(50, (_pool(7)[0], "reversed"))   # one odd row inside a run
    _check(schema, entries)
    reader = HeldReader(schema)
    default = TableEntry("bridging", is_default=True, action="bridging.to_cpu")
    with_default = [(_pool(100)[0], "plain"), (default, "plain"), *entries]
    held = _held(reader, schema, with_default)
    values, where = heldindex.index(reader._decode(held), reader._fields, reader._params,
                                    reader.compact)
    assert len(values) == len(where) == len({e.key() for e, _ in with_default}) - 1


def _rows_check(schema: P4Schema, entries: list[tuple[TableEntry, str]]) -> None:
    """Held.rows (runs alike made from column slices) says, in order, what the entities
    say, with `only` too."""
    reader = HeldReader(schema)
    held = _held(reader, schema, entries)
    made = [row_of(e) for e in held.entities() if isinstance(e, TableEntry)]
    assert list(held.rows()) == made
    only = {"bridging.forward": ("port", {1, 3}), "ingress_port.set_access": ("vnet_id", {2})}
    kept = [r for r in made
            if not (r[1] == "bridging.forward" and r[3]["port"] not in {1, 3})
            and not (r[1] == "ingress_port.set_access" and r[3]["vnet_id"] != 2)]
    assert list(held.rows(only)) == kept
    # as runs of columns: the same rows, and read_rows says the same of them
    runs = list(held.runs(only))
    assert [x for r in runs for x in (r.rows() if isinstance(r, Run) else [r])] == kept
    edges = {PortRef("s1", p) for p in (1, 2, 3, 7)}
    for which in (None, only):
        assert read_rows("s1", held.runs(which), [], edges) == \
            read_rows("s1", held.rows(which), [], edges)


@settings(max_examples=60, deadline=None)
@given(_entries())
def test_rows_made_by_runs_are_what_the_entities_say(
        schema: P4Schema, entries: list[tuple[TableEntry, str]]) -> None:
    _rows_check(schema, entries)


def test_rows_of_long_runs_and_a_half_read_switch(schema: P4Schema) -> None:
    entries = [(_pool(i)[kind], "plain") for kind in range(6) for i in range(40)]
    entries.insert(50, (_pool(7)[0], "reversed"))
    _rows_check(schema, entries)
    reader = HeldReader(schema)
    assert sum(isinstance(r, Run) for r in _held(reader, schema, entries).runs()) >= 6
    one, two = _held(reader, schema, entries), _held(reader, schema, entries[:20])
    half = one.rows()
    next(half)   # inside the first run: the runs after it raise
    list(two.rows())
    with pytest.raises(RuntimeError, match="whole"):
        list(half)
