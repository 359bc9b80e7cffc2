"""The mobility manager interface: what a placement policy sees, and what it returns.

A manager is a class with a `name`, the `params` it takes (name -> default) and a
`propose(view, vms)` method. Each round the engine calls it with the VMs whose policy
names it; it returns, per VM, where it would rather have the VM (or that it stays), the
costs it weighed (lower is better) and why. The engine, not the manager, enforces the
threshold, dwell time, rate limits, capacity, back-off and migrations in flight
(ctrl/placement/engine.py), and carries out the moves through the one migration path
there is; so a manager only says what would be better. A manager that raises, or names
a hypervisor that does not exist, gets a clear error on its VMs' decisions; the engine
carries on. This one spreads VMs over the hypervisors:

    from collections.abc import Mapping, Sequence
    from typing import ClassVar

    from ctrl.placement.manager import Proposal, View, VMView


    class Spread:
        '''Each VM to the hypervisor with the fewest VMs, when that holds at least
        `margin` fewer than the others where it is.'''

        name = "spread"
        params: ClassVar[Mapping[str, float]] = {"margin": 2.0}

        def propose(self, view: View, vms: Sequence[VMView]) -> list[Proposal]:
            # VMs per hypervisor, kept up to date as this round's moves are proposed.
            load = {h.name: h.load for h in view.hypervisors.values()}
            out = []
            for vm in vms:
                names = [h.name for h in view.candidates(vm)]
                if vm.hypervisor is None or not names:
                    out.append(Proposal(vm.name, None, {}, "nowhere to go"))
                    continue
                # Where it is counts without it: the load it would leave behind.
                costs = {h: float(load[h] - (h == vm.hypervisor)) for h in names}
                least = min(names, key=lambda h: (costs[h], h))
                margin = vm.policy.param("margin", self.params["margin"])
                here = costs[vm.hypervisor]
                if here - costs[least] < margin:
                    out.append(Proposal(vm.name, None, costs,
                                        f"{vm.hypervisor} holds {here:g} others, "
                                        f"{least} {costs[least]:g}: within {margin:g}"))
                    continue
                load[least] += 1
                load[vm.hypervisor] -= 1
                out.append(Proposal(vm.name, least, costs,
                                    f"{least} holds {costs[least]:g} VMs, "
                                    f"{vm.hypervisor} {here:g} others"))
            return out

Load it with `ctrl serve --mobility-manager mymodule:Spread`; a VM follows it with
`placement: {policy: spread, margin: 3}` in the topology file, or `PUT
/api/v1/placement/VM` ({"policy": "spread", "margin": 3}), or `ctrl placement set VM
spread margin=3`. The engine's own parameters (threshold, dwell, max_moves, per) go with
every policy (a manager's `params` may give them other defaults, as pack does with
threshold 0). Costs are compared by the threshold: the engine moves a VM to `to` only
when cost(to) <= (1 - threshold) x cost(here). What the view offers: `view.links(a, b)`
(fewest links between two switches, as forwarding routes), `view.cost(vm, hypervisor)`
and `view.best(vms)` (the traffic-weighted link count, batched through the C kernel),
`view.candidates(vm)` (the hypervisors it may go to).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ctrl.errors import MobilityError


class PlacementError(MobilityError, ValueError):
    """A placement request, policy or plug-in that cannot be used; the message says why."""


# The engine's own parameters, with every policy: name -> (default, what it is).
ENGINE_PARAMS: dict[str, tuple[float, str]] = {
    "threshold": (0.2, "the fraction of its cost here a move must save (0..1)"),
    "dwell": (10.0, "seconds a VM stays where it arrived before it may move again"),
    "max_moves": (3.0, "migrations of this VM at most in `per` seconds"),
    "per": (600.0, "the window of max_moves, seconds"),
}


@dataclass(frozen=True, slots=True)
class Policy:
    """A VM's placement policy: the manager's name, its parameters, and the hypervisors it
    may place the VM on (empty: every placement target)."""

    name: str
    params: Mapping[str, float] = field(default_factory=dict)
    hypervisors: tuple[str, ...] = ()

    def param(self, key: str, default: float) -> float:
        return float(self.params.get(key, default))

    def as_json(self) -> dict[str, object]:
        return {"policy": self.name, **dict(self.params),
                **({"hypervisors": list(self.hypervisors)} if self.hypervisors else {})}


@dataclass(frozen=True, slots=True)
class HypervisorView:
    name: str
    switch: str
    site: str
    target: bool                 # a placement target (it has a capacity in the topology)
    max_vms: int | None          # None: no limit
    max_memory_mb: int | None
    vms: tuple[str, ...]         # the VMs there, and those on their way there
    memory_mb: int               # what they take

    @property
    def load(self) -> int:
        return len(self.vms)

    def room_for(self, memory_mb: int) -> str | None:
        """Why one more VM of `memory_mb` does not fit (None: it fits)."""
        if self.max_vms is not None and self.load + 1 > self.max_vms:
            return f"{self.name} holds {self.load} of {self.max_vms} VMs"
        if self.max_memory_mb is not None and self.memory_mb + memory_mb > self.max_memory_mb:
            return (f"{self.name} has {self.max_memory_mb - self.memory_mb} MB free of "
                    f"{self.max_memory_mb}, the VM needs {memory_mb}")
        return None


class Lazy:
    """Text made when it is read: an explanation that costs nothing unless someone looks
    (10,000 VMs a round). `str(why)` for the text; `Why` is what a reason may be."""

    __slots__ = ("_make", "_text")

    def __init__(self, make: Callable[[], str]) -> None:
        self._make: Callable[[], str] | None = make
        self._text = ""

    def __str__(self) -> str:
        if self._make is not None:
            self._text, self._make = self._make(), None
        return self._text

    def __contains__(self, part: str) -> bool:
        return part in str(self)


Why = str | Lazy

# The records a round makes for every VM are plain slotted classes, not frozen ones: a
# frozen dataclass takes ~2.3 us to make here, a plain one ~0.3 (x10,000 VMs a round).


@dataclass(slots=True)
class VMView:
    name: str
    hypervisor: str | None           # None: at no hypervisor's port
    switch: str
    policy: Policy
    since: float                     # when it arrived where it is (the controller's clock)
    memory_mb: int
    demand: Mapping[str, float]      # switch -> packets/s entering there toward the VM
    attached: Mapping[str, tuple[str, ...]]   # switch -> the hosts attached there (all)

    @property
    def clients(self) -> dict[str, tuple[str, ...]]:
        """The hosts where its traffic enters the fabric: switch -> hosts there."""
        return {sw: tuple(h for h in self.attached.get(sw, ()) if h != self.name)
                for sw in self.demand}

    @property
    def rate(self) -> float:
        return sum(self.demand.values())


@dataclass(slots=True)
class Ranked:
    """What `View.best` found for one VM: its cheapest allowed candidate (None: none it
    can reach), that cost, its cost where it is, and the cost of every candidate."""

    best: str | None
    cost: float
    here: float
    costs: Mapping[str, float]


@dataclass(slots=True)
class Proposal:
    vm: str
    to: str | None                  # the hypervisor it would rather be at; None or its own: stay
    costs: Mapping[str, float]      # candidate hypervisor -> cost (lower is better)
    why: Why                        # text, or Lazy text


class View:
    """The fabric as a manager sees it this round."""

    def __init__(self, now: float, hypervisors: Mapping[str, HypervisorView],
                 vms: Mapping[str, VMView], links: Callable[[str, str], int | None],
                 best: Callable[[Sequence[VMView]], list[Ranked]]) -> None:
        self.now = now
        self.hypervisors = hypervisors
        self.vms = vms
        self.links = links            # fewest links between two switches (None: no path)
        self._best = best

    def candidates(self, vm: VMView) -> list[HypervisorView]:
        """The hypervisors the VM may go to (placement targets its policy allows), and the
        one it is at, by name."""
        allowed = set(vm.policy.hypervisors)
        return sorted((h for h in self.hypervisors.values()
                       if (h.target and (not allowed or h.name in allowed))
                       or h.name == vm.hypervisor), key=lambda h: h.name)

    def cost(self, vm: VMView, hypervisor: str) -> float:
        """Traffic-weighted links from where its traffic enters to `hypervisor`'s switch
        (packets/s x links; +inf where some traffic cannot reach it)."""
        there = self.hypervisors[hypervisor].switch
        total = 0.0
        for sw, rate in vm.demand.items():
            links = self.links(sw, there)
            total += math.inf if links is None else rate * links
        return total

    def best(self, vms: Sequence[VMView]) -> list[Ranked]:
        """`cost` at every candidate of each VM, in one batched call (the C kernel)."""
        return self._best(vms)


@runtime_checkable
class MobilityManager(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def params(self) -> Mapping[str, float]:   # its own parameters and their defaults
        ...

    def propose(self, view: View, vms: Sequence[VMView]) -> Sequence[Proposal]: ...


def load_manager(spec: str) -> MobilityManager:
    """`module:Class` (or `module:factory`), called with no arguments."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise PlacementError(f"mobility manager {spec!r}: give it as module:Class")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise PlacementError(f"mobility manager {spec!r}: cannot import {module_name}: "
                             f"{exc}") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise PlacementError(f"mobility manager {spec!r}: {module_name} has no {attr}")
    try:
        manager = factory()
    except Exception as exc:
        raise PlacementError(f"mobility manager {spec!r} failed to start: {exc!r}") from exc
    check_manager(manager, spec)
    return manager  # type: ignore[no-any-return]


def check_manager(manager: object, what: str) -> None:
    """A manager has a name, its params (name -> number) and propose(view, vms)."""
    if not isinstance(manager, MobilityManager):
        raise PlacementError(f"mobility manager {what}: it needs `name`, `params` and "
                             "`propose(view, vms)`")
    if not isinstance(manager.name, str) or not manager.name:
        raise PlacementError(f"mobility manager {what}: its name must be a non-empty string")
    if not isinstance(manager.params, Mapping) or not all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
            for k, v in manager.params.items()):
        raise PlacementError(f"mobility manager {what}: params must map names to numbers")
