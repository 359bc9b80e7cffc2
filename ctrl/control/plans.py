"""What the control core asks of the switches, and how many such asks become one round of
writes. Pure.

A `Plan` is the answer to one event: groups of per-switch changes, applied one
group after the other (make-before-break: the new location, then the switches
outward from it a level at a time, the old location last), then frames to send (a proxy ARP
reply, a frame sent through a tunnel just brought up). Plans that wait while a
round is being written are coalesced into the next round: one batch per switch
per step, each plan's order kept, and every switch's changes in the order the
events came (`coalesce`).
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
    """The steps of several plans, in order, as one round: a plan's steps keep their
    order, and a switch's changes are never applied before those of an earlier plan
    (a plan starts at the step after the last one that touched its switches, less
    its own position); a switch's changes in one step are composed into one Diff."""
    steps: list[Step] = []
    last: dict[str, int] = {}
    for plan in plans:
        offset = max((last[s] - i for i, step in enumerate(plan.steps) for s in step
                      if s in last), default=0)
        offset = max(offset, 0)
        for i, step in enumerate(plan.steps):
            k = i + offset
            while len(steps) <= k:
                steps.append({})
            merged = steps[k]
            for s, d in step.items():
                merged[s] = compose(merged[s], d) if s in merged else d
                last[s] = k
    return [{s: d for s, d in step.items() if d} for step in steps if any(step.values())]
