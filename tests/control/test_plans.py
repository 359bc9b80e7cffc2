"""A storm's round: many moves coalesced. Each switch gets one Write per step however
many moves there are, switches of a step in any order; every moving VM keeps its own
make-before-break order (checked by where frames go after every switch written); the
versions travel with the parts; a host moving twice waits for its first move."""

from __future__ import annotations

import random

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ctrl.control.core import ControlCore
from ctrl.control.diff import Diff
from ctrl.control.plans import Plan, coalesce, coalesce_parts, ordered
from ctrl.control.topology import PortRef
from ctrl.lab.fattree import fat_tree_topology, scale_hosts
from ctrl.p4rt.entity import Entity, TableEntry, UpdateType, delete, insert
from tests.control.fakefabric import FakeFabric, Frame
from tests.control.frames import rarp

SCALE = scale_hosts(4, 24, vnets=3, placement="spread", seed=3)
HOSTS = SCALE.hosts
TOPO = fat_tree_topology(4, hosts=HOSTS)


def _to(i: int, pick: int) -> PortRef:
    """The `pick`-th other hypervisor of host i's network (a port is one network's)."""
    h = HOSTS[i]
    others = [x for x in SCALE.owned[h.vnet] if x != h.hypervisor]
    return TOPO.hypervisors[others[pick % len(others)]].attach


def _storm(core: ControlCore, moves: list[tuple[int, PortRef]], now: float) -> list[Plan]:
    plans: list[Plan] = []
    for i, to in moves:
        h = HOSTS[i]
        plans += core.packet_ins(to.switch, rarp(to.port, mac=h.mac, vnet=h.vnet), 1, now)
    return plans


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(HOSTS) - 1), st.integers(0, 8)),
                min_size=1, max_size=10, unique_by=lambda m: m[0]),
       st.randoms(use_true_random=False))
# Two VMs arriving at a port a departure had just emptied of their network, while a third
# VM of it leaves the pod: the second arrival's first Write went before the first's, which
# brings the third's entries back (its frames to the third were dropped for a step).
@example([(5, 3), (17, 0), (2, 1), (23, 1)], random.Random(0))
def test_a_storm_is_one_write_per_switch_per_step_and_every_vm_keeps_its_order(
        picks: list[tuple[int, int]], rng: random.Random) -> None:
    moves = [(i, _to(i, pick)) for i, pick in picks]
    core = ControlCore(TOPO)
    held: dict[str, dict[object, Entity]] = {
        sw: {e.key(): e for e in core.wanted(sw)} for sw in TOPO.switches}
    before = {h.mac: core.tracker.get(h.vnet, h.mac).location for h in HOSTS}
    plans = _storm(core, moves, 1.0)
    steps = coalesce_parts(plans)
    # side by side, but for moves that touch one another's entries (a move that brings
    # a host's entries to a switch, and that host's own move), which follow each other
    assert len(steps) <= sum(len(p.steps) for p in plans)
    senders = sorted({h.location for h in core.tracker.hosts()})
    moved = {HOSTS[i].mac: (HOSTS[i].vnet, {before[HOSTS[i].mac], to}) for i, to in moves}
    # where each moved host arrived: from the end of its move's first step on, it sends
    firsts = {p.moves[0].new: next(n for n, step in enumerate(steps)
                                   if any(v == p.version for parts in step.values()
                                          for v, _ in parts))
              for p in plans if p.moves}
    for number, step in enumerate(steps):
        order = sorted(step)
        rng.shuffle(order)
        for n, sw in enumerate(order, 1):
            assert [v for v, _ in step[sw]] == sorted(v for v, _ in step[sw])
            for _, d in step[sw]:
                for u in d.updates():
                    k = u.entity.key()
                    assert (k in held[sw]) is (u.type is not UpdateType.INSERT)
                    if u.type is UpdateType.DELETE:
                        del held[sw][k]
                    else:
                        held[sw][k] = u.entity
            fabric = FakeFabric(TOPO, {s: list(h.values()) for s, h in held.items()})
            for mac, (vnet, places) in moved.items():
                for at in senders:
                    if not any(h.location == at and h.vnet == vnet
                               for h in core.tracker.hosts()) or at in places:
                        continue
                    # A host that just arrived somewhere sends from there once its port
                    # and the entries its move brings (the first step) are written;
                    # everyone else's frames must arrive at every moment.
                    if at in firsts and (number < firsts[at]
                                         or (number == firsts[at] and n < len(order))):
                        continue
                    got = fabric.deliver(at, Frame(mac))   # raises on a loop
                    assert got and set(got) <= places, (sw, at, f"{mac:012x}", got)
    for sw in TOPO.switches:
        assert held[sw] == {e.key(): e for e in core.wanted(sw)}, sw


def test_a_host_moving_twice_in_a_round_waits_for_its_first_move() -> None:
    core = ControlCore(TOPO)
    h = HOSTS[0]
    first = _storm(core, [(0, _to(0, 0))], 1.0)
    second = _storm(core, [(0, _to(0, 1))], 20.0)
    other = _storm(core, [(5, _to(5, 0))], 21.0)
    steps = coalesce_parts(first + second + other)
    written: dict[tuple[str, object], list[int]] = {}   # entry -> the plans writing it, in order
    for step in steps:
        for sw, parts in step.items():
            for v, d in parts:
                for u in d.updates():
                    written.setdefault((sw, u.entity.key()), []).append(v)
    assert all(vs == sorted(vs) for vs in written.values())
    assert any(len(vs) == 2 for vs in written.values())   # shared: second after first
    assert len(steps) == len(first[0].steps) + len(second[0].steps)
    versions = [v for step in steps for parts in step.values() for v, _ in parts]
    assert {first[0].version, second[0].version, other[0].version} <= set(versions)
    # the other host's move shares nothing with them: it starts in the first step
    assert any(v == other[0].version for parts in steps[0].values() for v, _ in parts)
    assert core.tracker.get(h.vnet, h.mac).location == _to(0, 1)


def test_coalesce_composes_each_switchs_parts() -> None:
    core = ControlCore(TOPO)
    plans = _storm(core, [(i, _to(i, i)) for i in range(0, 24, 3)], 1.0)
    parts, steps = coalesce_parts(plans), coalesce(plans)
    assert len(parts) == len(steps)
    for p, s in zip(parts, steps, strict=True):
        assert set(s) <= set(p)
        for sw, d in s.items():
            assert len(d) <= sum(len(x) for _, x in p[sw])


def test_a_delete_a_later_plan_undoes_is_not_written_unless_a_sync_came_between() -> None:
    """One VM leaves a port, another arrives at it: the port's access entry is deleted by
    the first plan and inserted again, the same, by the second. The switch keeps it
    throughout, unless its last sync came after the delete (then it needs the insert)."""
    port = TableEntry("ingress_port", {"ingress_port": 3}, "ingress_port.set_access",
                      {"vnet_id": 10})
    other = TableEntry("ingress_port", {"ingress_port": 4}, "ingress_port.set_access",
                       {"vnet_id": 10})
    leave = Plan([{"s1": Diff((), (), (delete(port),))}], version=1)
    arrive = Plan([{"s1": Diff((insert(port), insert(other)), (), ())}], version=2)
    steps = coalesce([leave, arrive])
    assert [[(u.type, u.entity) for d in st.values() for u in d.updates()] for st in steps] \
        == [[(UpdateType.INSERT, other)]]
    synced_between = coalesce_parts([leave, arrive], lambda sw: 1)
    assert [v for st in synced_between for parts in st.values() for v, _ in parts] == [1, 2]
    assert synced_between[-1]["s1"][-1][1].inserts == (insert(port), insert(other))


def test_ordered_by_rank_is_ordered_by_levels() -> None:
    """The core orders a move's changes by each switch's level (MoveOrder.move_rank): the
    same steps as by the levels listed, on a k=4 fat-tree, every pair of places."""
    topo = fat_tree_topology(4)
    planner = ControlCore(topo).planner
    edges = sorted({h.attach for h in topo.hypervisors.values()}, key=str)
    rng = random.Random(3)
    for new in edges:
        for old in [None, *edges]:
            changed = rng.sample(sorted(topo.switches), 6)
            entry = TableEntry.of_ints("ingress_port", {"ingress_port": 7},
                                       "ingress_port.set_access", {"vnet_id": 1})
            changes = {s: Diff((insert(entry),), (), (delete(entry),) if i % 2 else ())
                       for i, s in enumerate(changed)}
            last = None if old is None else old.switch
            assert ordered(changes, planner.order.move_rank(new, old), last) == ordered(
                changes, planner.order.move_levels(new, old), last), (new, old)
