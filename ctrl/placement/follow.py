"""follow-clients: a VM goes to the hypervisor whose switch is the fewest links, weighted
by traffic, from where its clients' packets enter the fabric (the Stanford demo's game
server, which follows its mobile players).

The cost of a candidate is the sum over the switches where the VM's traffic enters of
packets/s there x links from there to the candidate's switch, by the same distances as
forwarding (ctrl/placement/fabric.py), for every VM in one call of the C kernel. A VM
whose clients send less than `min_rate` packets/s has no active clients and stays.
Whether the saving is worth a migration (threshold, dwell) is the engine's to judge.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import ClassVar

from ctrl.placement.manager import Lazy, Proposal, View, VMView


def _where(vm: VMView, top: int = 3) -> str:
    """Its busiest entry points, with (up to 3 of) the hosts there: 'p-core (laptop) 40/s'."""
    parts = []
    for sw, rate in sorted(vm.demand.items(), key=lambda kv: (-kv[1], kv[0]))[:top]:
        there = (h for h in vm.attached.get(sw, ()) if h != vm.name)
        hosts = ", ".join(itertools.islice(there, 3)) or "no host known"
        parts.append(f"{sw} ({hosts}) {rate:,.0f}/s")
    more = len(vm.demand) - top
    return "; ".join(parts) + (f"; {more} more" if more > 0 else "")


class FollowClients:
    name = "follow-clients"
    params: ClassVar[Mapping[str, float]] = {"min_rate": 1.0}   # packets/s: active clients

    def propose(self, view: View, vms: Sequence[VMView]) -> list[Proposal]:
        out: list[Proposal] = []
        default = self.params["min_rate"]
        active = []
        for vm in vms:
            low = vm.policy.params.get("min_rate", default)
            if sum(vm.demand.values()) >= low:
                active.append(vm)
            else:
                out.append(Proposal(vm.name, None, {}, _idle(vm, low)))
        for vm, r in zip(active, view.best(active), strict=True):
            # The texts are made if someone reads them (Lazy).
            if r.best is None:
                out.append(Proposal(vm.name, None, r.costs,
                                    "no candidate hypervisor its clients can reach"))
            elif r.best == vm.hypervisor or not r.cost < r.here:
                out.append(Proposal(vm.name, None, r.costs, _best_here(vm, r.here)))
            else:
                out.append(Proposal(vm.name, r.best, r.costs,
                                    _better(vm, r.best, r.cost, r.here)))
        return out


def _idle(vm: VMView, low: float) -> Lazy:
    return Lazy(lambda: f"no active clients ({vm.rate:.1f} packets/s < {low:g})")


def _best_here(vm: VMView, here: float) -> Lazy:
    return Lazy(lambda: f"where it is is best: cost {here:,.0f}; clients at {_where(vm)}")


def _better(vm: VMView, best: str, cost: float, here: float) -> Lazy:
    return Lazy(lambda: f"{best}: cost {cost:,.0f} against {here:,.0f} here; clients at "
                        f"{_where(vm)}")
