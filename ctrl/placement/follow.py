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

from collections.abc import Mapping, Sequence
from typing import ClassVar

from ctrl.placement.manager import Proposal, View, VMView


def _where(vm: VMView, top: int = 3) -> str:
    """Its busiest entry points, with the hosts there: 'p-core (laptop) 40/s, ...'."""
    clients = vm.clients
    parts = []
    for sw, rate in sorted(vm.demand.items(), key=lambda kv: (-kv[1], kv[0]))[:top]:
        hosts = ", ".join(clients.get(sw, ())[:3]) or "no host known"
        parts.append(f"{sw} ({hosts}) {rate:,.0f}/s")
    more = len(vm.demand) - top
    return "; ".join(parts) + (f"; {more} more" if more > 0 else "")


class FollowClients:
    name = "follow-clients"
    params: ClassVar[Mapping[str, float]] = {"min_rate": 1.0}   # packets/s: active clients

    def propose(self, view: View, vms: Sequence[VMView]) -> list[Proposal]:
        out: list[Proposal] = []
        active = [vm for vm in vms
                  if vm.rate >= vm.policy.param("min_rate", self.params["min_rate"])]
        ranked = dict(zip((vm.name for vm in active), view.best(active), strict=True))
        for vm in vms:
            r = ranked.get(vm.name)
            if r is None:
                low = vm.policy.param("min_rate", self.params["min_rate"])
                out.append(Proposal(vm.name, None, {},
                                    f"no active clients ({vm.rate:.1f} packets/s < {low:g})"))
            elif r.best is None:
                out.append(Proposal(vm.name, None, r.costs,
                                    "no candidate hypervisor its clients can reach"))
            elif r.best == vm.hypervisor or not r.cost < r.here:
                out.append(Proposal(vm.name, None, r.costs,
                                    f"where it is is best: cost {r.here:,.0f}; clients "
                                    f"at {_where(vm)}"))
            else:
                out.append(Proposal(vm.name, r.best, r.costs,
                                    f"{r.best}: cost {r.cost:,.0f} against {r.here:,.0f} "
                                    f"here; clients at {_where(vm)}"))
        return out
