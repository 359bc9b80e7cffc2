"""The mobility manager interface: what a placement policy sees and what it returns.

A manager is a class with a `name` and a `propose(view, vms)` method. The engine calls it
each round with the VMs whose policy names it; it returns, per VM, where it wants the VM
(or that it stays) with the candidates it weighed and why. The engine, not the manager,
enforces dwell time, rate limits, capacity, back-off and in-flight migrations
(engine.py), so a manager only says what would be better:

    class Quietest:
        name = "quietest"
        def propose(self, view: View, vms: Sequence[VMView]) -> list[Proposal]:
            out = []
            for vm in vms:
                load = {h.name: h.load for h in view.candidates(vm)}
                best = min(load, key=load.__getitem__, default=vm.hypervisor)
                out.append(Proposal(vm.name, best, load, "the least loaded host"))
            return out

`ctrl serve --mobility-manager module:Class` loads one (`load_manager`); its VMs name it
with `placement: {policy: NAME, ...}` in the topology file or through the API.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ctrl.errors import MobilityError


class PlacementError(MobilityError, ValueError):
    """A placement request or plug-in that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Policy:
    """A VM's placement policy: the manager's name and its parameters."""

    name: str
    params: Mapping[str, float] = field(default_factory=dict)

    def param(self, key: str, default: float) -> float:
        return float(self.params.get(key, default))


@dataclass(frozen=True, slots=True)
class HypervisorView:
    name: str
    switch: str
    capacity: int | None   # VMs it may hold; None: not a placement target
    load: int              # VMs there now (placed VMs and VMs on their way there)


@dataclass(frozen=True, slots=True)
class VMView:
    name: str
    hypervisor: str | None           # None: at no hypervisor's port
    switch: str
    policy: Policy
    since: float                     # when it arrived where it is (time.monotonic())
    demand: Mapping[str, float]      # switch -> bytes/s entering there toward the VM
    clients: Mapping[str, tuple[str, ...]]  # switch -> the hosts attached there


@dataclass(frozen=True, slots=True)
class View:
    """The fabric as a manager sees it this round."""

    now: float
    hypervisors: Mapping[str, HypervisorView]
    vms: Mapping[str, VMView]
    links: Callable[[str, str], int | None]     # fewest links between two switches
    costs: Callable[[Sequence[Mapping[str, float]], Sequence[str]], list[list[float]]]
    # ^ traffic-weighted links from each demand to each switch, in one batched call

    def candidates(self, vm: VMView) -> list[HypervisorView]:
        """The hypervisors the VM may go to (and the one it is at), by name."""
        return sorted((h for h in self.hypervisors.values()
                       if h.capacity is not None or h.name == vm.hypervisor),
                      key=lambda h: h.name)


@dataclass(frozen=True, slots=True)
class Proposal:
    vm: str
    to: str | None                  # the hypervisor it would rather be at; None or its own: stay
    costs: Mapping[str, float]      # candidate hypervisor -> cost (lower is better)
    why: str


@runtime_checkable
class MobilityManager(Protocol):
    name: str

    def propose(self, view: View, vms: Sequence[VMView]) -> Sequence[Proposal]: ...


def load_manager(spec: str) -> MobilityManager:
    """`module:Class` (or `module:factory`) called with no arguments."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise PlacementError(f"mobility manager {spec!r}: give it as module:Class")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PlacementError(f"mobility manager {spec!r}: cannot import {module_name}: {exc}"
                             ) from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise PlacementError(f"mobility manager {spec!r}: {module_name} has no {attr}")
    try:
        manager = factory()
    except Exception as exc:
        raise PlacementError(f"mobility manager {spec!r} failed to start: {exc!r}") from exc
    if not isinstance(manager, MobilityManager) or not isinstance(manager.name, str):
        raise PlacementError(f"mobility manager {spec!r} has no `name` and `propose(view, vms)`")
    return manager
