"""A switch's wanted entries given compactly (ctrl/control/compactwant.py): each pair is
the reader's compact form of the entity it makes, and a diff of them against what a
switch holds finds every missing, extra and different entry, as the entities' diff does."""

from __future__ import annotations

from collections.abc import Hashable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrl.control.compactwant import CompactWanted, Wants, access_entry, route_entry
from ctrl.control.diff import diff, diff_keyed
from ctrl.control.held import HeldReader
from ctrl.control.planner import FLOOD, FORWARD, TO_CPU, TO_TUNNEL, Fwd, bridging_entry
from ctrl.control.topology import PortRef
from ctrl.p4rt.entity import Entity, MulticastGroupEntry, TableEntry
from ctrl.p4rt.schema import P4Schema

MAC = 0x020000000000
GW = 0x02AA00000001


def _fill(out: Wants, n: int) -> None:
    """Every kind of entry once or more: bridging of each action in runs, each host to
    its port, routes, access ports, and entities given whole (a group, my_station, a
    default entry); runs empty too."""
    fwds: list[Fwd] = [(FORWARD, 3), (TO_TUNNEL, 7), (TO_CPU,), (FLOOD, 9, ((0, 1), (1, 2)))]
    for i in range(n):
        macs = [MAC + 100 * i + j for j in range(i % 4)]
        out.bridging(10 + i % 3, macs, fwds[i % 4])
        out.forward(20, [MAC + 100 * i + 50 + j for j in range(i % 3)],
                    [1 + j for j in range(i % 3)])
        out.routes(10 + i, GW, [0x0A000000 + j for j in range(i % 5)], [MAC + 100 * i] * (i % 5))
        out.access(PortRef("s1", 1 + i), 10 + i % 2)
    out.entity(MulticastGroupEntry.of_ports(9, [1, 2]))
    out.entity(TableEntry.of_ints("my_station", {"vnet_id": 10, "eth_dst": GW},
                                  "my_station.set_routable", {}))
    out.entity(TableEntry("bridging", is_default=True, action="bridging.to_cpu"))


def test_each_pair_is_the_compact_form_of_the_entity_it_makes(schema: P4Schema) -> None:
    reader = HeldReader(schema)
    plain, compact = Wants(), CompactWanted(reader)
    _fill(plain, 12)
    _fill(compact, 12)
    assert list(compact) == plain.out and len(compact) == len(plain.out) > 60
    assert compact.pairs == [reader.compact(e) for e in plain.out]
    assert all(v is not None for _, v in compact.pairs[:-3])   # the hosts' entries whole
    assert [compact[i] for i in range(len(compact))] == plain.out
    assert compact[-1] == plain.out[-1] and compact[2:5] == plain.out[2:5]
    with pytest.raises(IndexError):
        compact[len(compact)]
    assert bridging_entry(10, MAC, (FORWARD, 3)) not in plain.out   # (i=0: no MACs)
    assert bridging_entry(11, MAC + 100, (TO_TUNNEL, 7)) in plain.out
    assert bridging_entry(20, MAC + 150, (FORWARD, 1)) in plain.out
    assert route_entry(11, 0x0A000000, GW, MAC + 100) == TableEntry(
        "routing_v4", {"vnet_id": 11, "ipv4_dst": 0x0A000000}, "routing_v4.route",
        {"src_mac": GW, "dst_mac": MAC + 100})
    assert route_entry(11, 0x0A000000, GW, MAC + 100) in plain.out
    assert access_entry(PortRef("s1", 1), 10) in plain.out


def test_orders_name_every_field_once_or_there_is_none(schema: P4Schema) -> None:
    reader = HeldReader(schema)
    e = bridging_entry(10, MAC, (FORWARD, 3))
    t = schema.tables["bridging"]
    for fields in (("eth_dst", "vnet_id"), ("vnet_id", "eth_dst")):   # either order
        order = reader.key_order("bridging", fields)
        assert order is not None and order[0] == (t.id, 0)
        given = [e.match[f] for f in fields]
        assert (*order[0], *[given[i] for i in order[1]]) == reader.compact(e)[0]
    assert reader.key_order("bridging", ("vnet_id",)) is None
    assert reader.key_order("bridging", ("vnet_id", "eth_dst", "eth_dst")) is None
    assert reader.key_order("bridging", ("vnet_id", "ipv4_dst")) is None
    assert reader.key_order("no_such_table", ()) is None
    assert reader.value_order("bridging.forward", ("tunnel_id",)) is None
    assert reader.value_order("no.such_action", ()) is None
    order = reader.value_order("routing_v4.route", ("dst_mac", "src_mac"))
    assert order is not None
    r = route_entry(10, 1, GW, MAC)
    assert (*order[0], *[(MAC, GW)[i] for i in order[1]]) == reader.compact(r)[1]


def _installed(reader: HeldReader, held: list[Entity]
               ) -> tuple[dict[Hashable, Hashable | None], dict[Hashable, Entity]]:
    values: dict[Hashable, Hashable | None] = {}
    where: dict[Hashable, Entity] = {}
    for e in held:
        k, v = reader.compact(e)
        values[k] = v
        where[k] = e
    return values, where


def _same_entity(e: Entity) -> Entity:
    return e


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_a_diff_of_compact_wants_finds_every_missing_extra_and_different_entry(
        schema: P4Schema, data: st.DataObject) -> None:
    """The switch holds the wanted entries but some lost (missing: inserted), some more
    (extra: deleted), some with other actions or parameters (modified), in any order:
    diff_keyed of the compact wants is exactly diff() of the entities."""
    reader = HeldReader(schema)
    want = CompactWanted(reader)
    _fill(want, data.draw(st.integers(0, 20)))
    entities = list(want)
    held: list[Entity] = []
    for i, e in enumerate(entities):
        fate = data.draw(st.sampled_from(["kept", "lost", "other"]), label=f"entry {i}")
        if fate == "kept":
            held.append(e)
        elif fate == "other" and isinstance(e, TableEntry) and e.table == "bridging" \
                and not e.is_default:
            held.append(TableEntry("bridging", dict(e.match), "bridging.forward", {"port": 99}))
        elif fate == "other" and isinstance(e, TableEntry) and e.table == "routing_v4":
            held.append(TableEntry("routing_v4", dict(e.match), "routing_v4.route",
                                   {"src_mac": GW, "dst_mac": 1}))
        elif fate == "other" and isinstance(e, MulticastGroupEntry):
            held.append(MulticastGroupEntry.of_ports(e.group_id, [5]))
    extra = data.draw(st.integers(0, 5))
    held += [bridging_entry(30, MAC + 1000 + i, (FORWARD, 1)) for i in range(extra)]
    held = data.draw(st.permutations(held))
    got = diff_keyed(want, *_installed(reader, held), reader.compact, _same_entity)
    assert got == diff(entities, held)
    assert len(got.deletes) >= extra
    in_sync = diff_keyed(want, *_installed(reader, entities), reader.compact,
                         _same_entity)
    assert not in_sync

