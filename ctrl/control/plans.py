"""What the control core asks of the switches, and how many such asks become one round of
writes. Pure.

A `Plan` is the answer to one event: groups of per-switch changes, applied one
group after the other (make-before-break: the new location, then the switches
outward from it a level at a time, the old location last), then frames to send (a proxy ARP
reply, a frame sent through a tunnel just brought up). Plans that wait while a
round is being written are coalesced into the next round: one batch per switch
per step, each plan's order kept, and a plan that touches what an earlier one
touches (the same VM moving again) started only once that one is written
(`coalesce`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ctrl.control.diff import Diff, compose, compose_all, merge
from ctrl.control.hosts import Moved

Step = dict[str, Diff]  # switch -> what changes there; the switches of a step in parallel
Part = tuple[int, Diff]  # a change, and the version of the wanted state it leads to


@dataclass(frozen=True, slots=True)
class Send:
    """A frame the controller sends out of a switch's port (packet-out)."""

    switch: str
    port: int
    frame: bytes


@dataclass(slots=True)
class Plan:
    """One event's writes, in steps, and the frames to send once they are written.
    `moves` are the host moves whose convergence these writes are; `start` is when
    the event was seen (for the convergence time)."""

    steps: list[Step] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)
    moves: list[Moved] = field(default_factory=list)
    start: float = 0.0
    why: str = ""
    version: int = 0   # the wanted state's version its steps lead to (ControlCore.version)

    def switches(self) -> set[str]:
        return {s for step in self.steps for s in step}

    def writes(self) -> int:
        return sum(len(d) for step in self.steps for d in step.values())

    def __bool__(self) -> bool:
        return bool(self.steps or self.sends or self.moves)


def ordered(changes: dict[str, Diff], levels: Sequence[Sequence[str]],
            last: str | None = None, first: dict[str, Diff] | None = None) -> list[Step]:
    """Changes in make-before-break steps: one step a level (Planner.move_levels), the
    switches of a level in parallel, levels where nothing changes no step; and every
    deletion after them, with the old location's step (`last`, the last level) where
    there is one. A switch that no longer carries a host's frames loses its entry only
    once no switch sends them to it (every new entry points into the new reach, so a
    stale entry is never on a frame's way again: no loop, and no frame dropped that
    would have arrived). `first`: other hosts' entries a move brings along (inserts
    along their own trees, which cannot loop), all in the first step, so that the host
    that arrived reaches its peers once that step is written."""
    keep = {s: Diff(d.inserts, d.modifies, ()) for s, d in changes.items()}
    steps = [{s: keep[s] for s in level if keep.get(s)} for level in levels]
    steps = [step for step in steps if step]
    early = {s: Diff(d.inserts, d.modifies, ()) for s, d in (first or {}).items()
             if d.inserts or d.modifies}
    if early:
        if not steps:
            steps.append({})
        for s, d in early.items():
            steps[0][s] = compose(steps[0][s], d) if s in steps[0] else d
    changes = merge(changes, {s: Diff((), (), d.deletes) for s, d in (first or {}).items()
                              if d.deletes})
    gone = {s: Diff((), (), d.deletes) for s, d in sorted(changes.items()) if d.deletes}
    if not gone:
        return steps
    if last is not None and steps and list(steps[-1]) == [last]:
        mine = steps[-1][last]
        steps[-1] = {**gone, last: compose(mine, gone[last]) if last in gone else mine}
    else:
        steps.append(gone)
    return steps


def at_once(changes: dict[str, Diff]) -> list[Step]:
    """Changes with no order between switches: one step, and the deletions after it."""
    return ordered(changes, [sorted(changes)])


def coalesce_parts(plans: Sequence[Plan]) -> list[dict[str, list[Part]]]:
    """The steps of several plans, in order, as one round: per step, each switch's
    changes from every plan there, in event order, each with its plan's version (a
    switch skips those its last sync wrote already). A plan that shares no entry with
    the plans before it starts with them (a move of another VM writes other keys: its
    frames are forwarded by its own entries only); one that shares an entry starts
    after the last step of every such plan, whose end state it was made against. So a
    switch gets one Write per step of the round, however many moves the round holds,
    and each move keeps its own make-before-break order. (One Write per switch for the
    whole round cannot keep that order for all: two VMs moving opposite ways through an
    aggregation switch and a core switch need them written in opposite orders.) A plan
    that shares entries with earlier ones is placed so that each of those entries is
    written after the earlier plans wrote it: frames for a host follow that host's
    entries only, so nothing else orders two plans."""
    steps: list[dict[str, list[Part]]] = []
    last: dict[tuple[str, object], int] = {}   # entry -> the last step that writes it
    for plan in plans:
        keys = [((s, u.entity.key()), i) for i, step in enumerate(plan.steps)
                for s, d in step.items() for u in d.updates()]
        offset = max([0, *(last[k] + 1 - i for k, i in keys if k in last)])
        for i, step in enumerate(plan.steps):
            while len(steps) <= i + offset:
                steps.append({})
            merged = steps[i + offset]
            for s, d in step.items():
                if d:
                    merged.setdefault(s, []).append((plan.version, d))
        for k, i in keys:
            last[k] = offset + i
    return [step for step in steps if step]


def coalesce(plans: Sequence[Plan]) -> list[Step]:
    """`coalesce_parts` with each switch's changes of a step composed into one Diff."""
    out = [{s: compose_all([d for _, d in parts]) for s, parts in step.items()}
           for step in coalesce_parts(plans)]
    return [{s: d for s, d in step.items() if d} for step in out if any(step.values())]
