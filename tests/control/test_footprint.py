"""Footprints: the reach toward a switch against walking every member's path on its own."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ctrl.control.footprint import Footprints, crossing
from ctrl.control.planner import Planner
from ctrl.control.topology import parse_topology
from ctrl.lab.fattree import fat_tree_topology
from tests.topologies import CHAIN, TOPO

FAT = fat_tree_topology(4)


def _walked(planner: Planner, sources: list[str], dest: str) -> frozenset[str]:
    """Each source's path, one by one (across sites: to its gateway, and from dest's)."""
    topo = planner.topo
    out = {dest}
    for src in sources:
        here, there = topo.switches[src].site, topo.switches[dest].site
        if here == there:
            out |= set(planner.path(src, dest) or [src])
        else:
            out |= set(planner.path(src, planner.gateway(here)) or [src])
            out |= set(planner.path(planner.gateway(there), dest) or [])
    return frozenset(out)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["topo", "chain", "fat"]), st.data())
def test_reach_is_the_union_of_the_members_paths(which: str, data: st.DataObject) -> None:
    topo = {"topo": parse_topology(TOPO), "chain": parse_topology(CHAIN), "fat": FAT}[which]
    planner = Planner(topo)
    names = sorted(topo.switches)
    members = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=8))
    dest = data.draw(st.sampled_from(names))
    got = crossing(topo, planner.gateway, planner.next_hops, members, dest)
    assert got == _walked(planner, members, dest)


def test_members_count_and_the_reach_follows_them() -> None:
    topo = parse_topology(CHAIN)
    planner = Planner(topo)
    fp = Footprints(topo, planner.gateway, planner.next_hops)
    assert fp.add(10, "c3") and not fp.add(10, "c3")          # a second host: no new member
    assert fp.reach(10, "c1") == {"c1", "c2", "c3"}
    assert fp.add(10, "c5")
    assert fp.reach(10, "c1") == {"c1", "c2", "c3", "c5"}      # walked again
    assert not fp.remove(10, "c3") and fp.count(10, "c3") == 1
    assert fp.remove(10, "c3") and sorted(fp.members(10)) == ["c5"]
    assert fp.reach(10, "c1") == {"c1", "c5"}
    assert fp.remove(10, "c5") and list(fp.vnets()) == []
