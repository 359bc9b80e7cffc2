"""What the placement engine reads and writes each round: the world as the controller has
it (VMs placed, hosts attached, the fabric's costs), the hypervisors it may use, its
limits, and its decisions with their reasons (made when read). Plain values; the engine
(ctrl/placement/engine.py) is the logic.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ctrl.placement.manager import HypervisorView, Ranked, VMView, Why

CAUSE = "placement"


class Verdict(enum.Enum):
    MIGRATE = "migrate"      # started now
    ADVISE = "advise"        # would migrate; no actuator
    MOVING = "moving"        # its migration (ours) is under way
    STAY = "stay"            # where it is is best, or not better enough
    WAIT = "wait"            # better elsewhere, not yet: dwell, rate limits
    BLOCKED = "blocked"      # better elsewhere, cannot: capacity, back-off, in flight
    ERROR = "error"          # its manager failed, or its policy cannot be used


@dataclass(frozen=True, slots=True)
class Limits:
    max_moves: int = 10      # migrations the engine starts at most per `per` seconds
    per: float = 60.0
    concurrent: int = 2      # migrations it has under way at once, at most
    backoff: float = 30.0    # seconds a hypervisor is left alone after a failure there;
    backoff_max: float = 600.0   # doubled at each failure in a row, up to this


@dataclass(frozen=True, slots=True)
class Target:
    """A hypervisor as placement sees it: where it is and what it may hold (capacity 0:
    it hosts no VMs, e.g. a wireless access point)."""

    name: str
    switch: str
    site: str
    max_vms: int | None = None
    max_memory_mb: int | None = None

    @property
    def target(self) -> bool:
        return self.max_vms != 0


@dataclass(frozen=True, slots=True)
class Placed:
    """A VM as the controller has it this round."""

    name: str
    hypervisor: str | None       # None: at no hypervisor's port
    switch: str
    since: float
    memory_mb: int = 0
    flight: str | None = None    # the controller's migration in flight: where to
    demand: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class World:
    vms: Mapping[str, Placed]                   # every VM the controller knows, by name
    attached: Mapping[str, tuple[str, ...]]     # switch -> hosts attached there
    links: Callable[[str, str], int | None]
    best: Callable[[Sequence[VMView], Mapping[str, HypervisorView]], list[Ranked]]


@dataclass(slots=True)
class Decision:
    vm: str
    manager: str
    at: str | None
    verdict: Verdict
    to: str | None
    reason: Why               # the text made when read (`why`)
    time: float
    costs: Mapping[str, float] = field(default_factory=dict)
    cause: str = CAUSE

    @property
    def why(self) -> str:
        return str(self.reason)

    def same(self, other: Decision | None) -> bool:
        """The same verdict, where and where to (its reason's numbers move every round: a
        decision that changed is one that would do something else)."""
        return other is not None and (self.verdict, self.to, self.at) == (
            other.verdict, other.to, other.at)

    def candidates(self, limit: int = 8) -> list[tuple[str, float]]:
        ranked = sorted(self.costs.items(), key=lambda kv: (kv[1], kv[0]))
        return ranked[:limit]

    def as_json(self) -> dict[str, object]:
        return {"vm": self.vm, "policy": self.manager, "at": self.at,
                "decision": self.verdict.value, "to": self.to, "why": str(self.reason),
                "time": self.time, "cause": self.cause,
                "candidates": [{"hypervisor": h, "cost": _num(c)}
                               for h, c in self.candidates()]}


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


@dataclass(slots=True)
class Backoff:
    until: float
    failures: int
    why: str


@dataclass
class Counters:
    decisions: dict[str, int] = field(default_factory=dict)    # changed decisions, by verdict
    started: int = 0
    succeeded: int = 0
    failed: int = 0
    manager_errors: dict[str, int] = field(default_factory=dict)
    rounds: int = 0
