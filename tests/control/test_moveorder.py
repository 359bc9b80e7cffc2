"""Make-before-break order: a move's switches by level, the levels in writing order."""

from __future__ import annotations

import itertools

import pytest

from ctrl.control.moveorder import MoveOrder
from ctrl.control.planner import Planner
from ctrl.control.topology import PortRef, parse_topology
from tests.topologies import TOPO


@pytest.fixture
def planner() -> Planner:
    return Planner(parse_topology(TOPO))


@pytest.fixture
def order(planner: Planner) -> MoveOrder:
    return planner.order


def test_make_before_break_levels(order: MoveOrder) -> None:
    # s4 -> s1 (1 hop), s2 the old location last; s3 in site b after its gateway s3.
    assert order.move_levels(PortRef("s4", 3), PortRef("s2", 3)) == [
        ["s4"], ["s1"], ["s3"], ["s2"]]
    # Into site b from site a: s3 first; site a's gateway s1 before s4, s2 the old place.
    assert order.move_levels(PortRef("s3", 3), PortRef("s2", 3)) == [
        ["s3"], ["s1"], ["s4"], ["s2"]]
    # Within one switch: one level, and nothing after it but the others.
    assert order.move_levels(PortRef("s2", 3), PortRef("s2", 4))[0] == ["s2"]
    assert order.move_levels(PortRef("s1", 3), None) == [["s1"], ["s2", "s4"], ["s3"]]


def test_move_rank_orders_as_move_levels(order: MoveOrder) -> None:
    ports = [PortRef(s, p) for s in ("s1", "s2", "s3", "s4") for p in (3, 4)]
    for new in ports:
        for old in [None, *ports]:
            rank = order.move_rank(new, old)
            levels = order.move_levels(new, old)
            ranks = {s: r for s in order.topo.switches if (r := rank(s)) is not None}
            assert len(ranks) == len(order.topo.switches)   # every switch has a level
            by_rank = sorted(ranks, key=lambda s: (ranks[s], s))
            assert by_rank == [s for level in levels for s in level], (new, old)
            for a, b in itertools.pairwise(levels):
                assert max(ranks[s] for s in a) < min(ranks[s] for s in b)


def test_levels_are_made_again_when_the_paths_change(planner: Planner) -> None:
    """Levels are kept per new place; a link down (the planner's paths changed) makes
    them again: s2 reaches s1 through s4 once s1-s2 is down, so it is written after s4."""
    order = planner.order
    new = PortRef("s1", 3)
    assert order.move_levels(new, None) == [["s1"], ["s2", "s4"], ["s3"]]
    assert order.move_rank(new, None)("s2") == order.move_rank(new, None)("s4")
    [s1_s2] = [lk for lk in planner.topo.links if {lk.a.switch, lk.b.switch} == {"s1", "s2"}]
    planner.set_links_down([s1_s2])
    assert order.move_levels(new, None) == [["s1"], ["s4"], ["s2"], ["s3"]]
    rank = order.move_rank(new, None)
    assert rank("s1") == 0 and rank("s4") == 1 and rank("s2") == 2 and rank("s3") == 3
    planner.set_links_down([])
    assert order.move_levels(new, None) == [["s1"], ["s2", "s4"], ["s3"]]
