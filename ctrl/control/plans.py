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

from ctrl.control.diff import Diff, compose
from ctrl.control.hosts import Moved

Step = dict[str, Diff]  # switch -> what changes there; the switches of a step in parallel


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
    # Where a move's time went (ctrl/control/stages.py), monotonic: its packet-in off
    # the stream, the core's answer, the core's time planning it (0: not known).
    received: float = 0.0
    decided: float = 0.0
    planning: float = 0.0

    def switches(self) -> set[str]:
        return {s for step in self.steps for s in step}

    def writes(self) -> int:
        return sum(len(d) for step in self.steps for d in step.values())

    def __bool__(self) -> bool:
        return bool(self.steps or self.sends or self.moves)


def ordered(changes: dict[str, Diff], levels: Sequence[Sequence[str]]) -> list[Step]:
    """Changes in make-before-break steps: one step a level (Planner.move_levels), the
    switches of a level in parallel; levels where nothing changes are no step."""
    steps = [{s: changes[s] for s in level if changes.get(s)} for level in levels]
    return [step for step in steps if step]


def at_once(changes: dict[str, Diff]) -> list[Step]:
    """Changes with no order between switches: one step."""
    step = {s: d for s, d in sorted(changes.items()) if d}
    return [step] if step else []


def coalesce(plans: Sequence[Plan]) -> list[Step]:
    """The steps of several plans, in order, as one round. A plan that shares no entry
    with the plans before it starts with them (a move of another VM writes other keys:
    its frames are forwarded by its own entries only); one that shares an entry starts
    after the last step of every such plan, whose end state it was made against. A
    switch's changes in one step are composed into one Diff, in event order."""
    steps: list[Step] = []
    placed: list[tuple[frozenset[tuple[str, object]], int]] = []   # keys, last step
    for plan in plans:
        keys = frozenset((s, u.entity.key()) for step in plan.steps
                         for s, d in step.items() for u in d.updates())
        offset = max((last + 1 for other, last in placed if other & keys), default=0)
        for i, step in enumerate(plan.steps):
            k = i + offset
            while len(steps) <= k:
                steps.append({})
            merged = steps[k]
            for s, d in step.items():
                merged[s] = compose(merged[s], d) if s in merged else d
        if plan.steps:
            placed.append((keys, offset + len(plan.steps) - 1))
    return [{s: d for s, d in step.items() if d} for step in steps if any(step.values())]
