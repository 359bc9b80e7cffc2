"""Mobility managers as a researcher would write them, for the loader's tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from ctrl.placement.manager import Proposal, View, VMView


class Nearest:
    """Each VM to the candidate fewest links from its busiest client switch."""

    name = "nearest"
    params: ClassVar[Mapping[str, float]] = {}

    def propose(self, view: View, vms: Sequence[VMView]) -> list[Proposal]:
        out = []
        for vm in vms:
            if not vm.demand:
                out.append(Proposal(vm.name, None, {}, "no traffic"))
                continue
            busiest = max(vm.demand, key=lambda sw: vm.demand[sw])
            costs = {h.name: float(view.links(busiest, h.switch) or 0)
                     for h in view.candidates(vm)}
            out.append(Proposal(vm.name, min(costs, key=lambda h: (costs[h], h)), costs,
                                f"nearest to {busiest}"))
        return out


class Broken:
    """Raises in propose."""

    name = "broken"
    params: ClassVar[Mapping[str, float]] = {}

    def propose(self, view: View, vms: Sequence[VMView]) -> list[Proposal]:
        raise RuntimeError("the researcher's bug")


def broken_factory() -> Nearest:
    raise OSError("no config file")


class NotAManager:
    name = "nope"


class First:
    """Each VM to the first hypervisor its policy allows (a manager for the actuators'
    tests: the move is what is being tested, not the choice)."""

    name = "first"
    params: ClassVar[Mapping[str, float]] = {}

    def propose(self, view: View, vms: Sequence[VMView]) -> list[Proposal]:
        out = []
        for vm in vms:
            to = vm.policy.hypervisors[0] if vm.policy.hypervisors else None
            costs = {} if to is None or vm.hypervisor is None else {vm.hypervisor: 1.0,
                                                                     to: 0.0}
            out.append(Proposal(vm.name, to, costs, f"told to go to {to}"))
        return out
