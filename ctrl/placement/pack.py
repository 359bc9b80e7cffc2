"""pack: VMs onto the fewest hypervisors (to switch the others off, or keep them free).

Each round the placement target in use with the fewest VMs (ties: the name last in
order) is drained: each of its VMs goes to the fullest other target in use that has
room for it, so that the one left empty can go idle. Targets are filled fullest first
(ties: the name first in order), so two hypervisors never trade VMs. Nothing moves when
the drained one's VMs do not all fit elsewhere (a half-drained hypervisor is still on),
or when only one target is in use. The cost of a hypervisor is the number of targets in
use once the move is made: the drain saves one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from ctrl.placement.manager import HypervisorView, Proposal, View, VMView


def _plan(view: View, vms: Sequence[VMView], mine: Mapping[str, VMView]
          ) -> tuple[str | None, dict[str, str], str]:
    """(the target drained, VM -> where it goes, why not if nothing moves)."""
    used = [h for h in view.hypervisors.values() if h.target and h.load]
    if len(used) < 2:
        return None, {}, f"{len(used)} placement target in use: nothing to pack"
    # Only a target all of whose VMs follow this policy (none in flight) can be emptied.
    drainable = [h for h in used if all(v in mine for v in h.vms)]
    if not drainable:
        return None, {}, "every target in use also holds VMs of another policy"
    drained = min(drainable, key=lambda h: (h.load, _desc(h.name)))
    room: dict[str, HypervisorView] = {h.name: h for h in used if h.name != drained.name}
    extra: dict[str, list[VMView]] = {h: [] for h in room}
    plan: dict[str, str] = {}
    for name in sorted(drained.vms):
        vm = mine[name]
        for h in sorted(room.values(), key=lambda h: (-(h.load + len(extra[h.name])), h.name)):
            allowed = not vm.policy.hypervisors or h.name in vm.policy.hypervisors
            if allowed and _fits(h, extra[h.name], vm):
                plan[name] = h.name
                extra[h.name].append(vm)
                break
        else:
            return drained.name, {}, f"{name} fits on no other target in use"
    return drained.name, plan, ""


def _fits(h: HypervisorView, extra: Sequence[VMView], vm: VMView) -> bool:
    if h.max_vms is not None and h.load + len(extra) + 1 > h.max_vms:
        return False
    used = h.memory_mb + sum(v.memory_mb for v in extra) + vm.memory_mb
    return h.max_memory_mb is None or used <= h.max_memory_mb


def _desc(name: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in name)


class Pack:
    name = "pack"
    # A drain saves one target in use: any saving will do.
    params: ClassVar[Mapping[str, float]] = {"threshold": 0.0}

    def propose(self, view: View, vms: Sequence[VMView]) -> list[Proposal]:
        mine = {vm.name: vm for vm in vms}
        drained, plan, why = _plan(view, vms, mine)
        used = sum(1 for h in view.hypervisors.values() if h.target and h.load)
        out = []
        for vm in vms:
            to = plan.get(vm.name)
            if to is None:
                reason = (why if drained is None or vm.hypervisor == drained else
                          f"{vm.hypervisor} is not the one being emptied"
                          + (f" ({drained})" if drained else ""))
                out.append(Proposal(vm.name, None, {}, reason))
            else:
                assert vm.hypervisor is not None
                out.append(Proposal(vm.name, to, {vm.hypervisor: float(used),
                                                  to: float(used - 1)},
                                    f"emptying {drained}: {used} targets in use, "
                                    f"{used - 1} once its VMs are on the fullest ones"))
        return out
