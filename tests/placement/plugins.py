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
