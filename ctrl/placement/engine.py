"""The placement engine: every VM with a policy, its manager's proposal, the guard rails,
and a decision with its reason. Pure: the world and the clock in, decisions out (like
ctrl/control/hosts.py); ctrl/placement/service.py runs it in `ctrl serve`.

Each round the engine asks every mobility manager about its VMs (one call each, all
its VMs at once) and judges each proposal, in this order:

- a VM whose migration is under way (ours, or one the controller has in flight) is not
  touched; one at no hypervisor's port is not either;
- a manager that raises, or proposes a hypervisor that does not exist, is an error on
  its VMs' decisions: the engine carries on and keeps everything it had;
- where the manager would rather have the VM, or failing that the next cheapest of the
  costs it gave: a placement target the policy allows, not backed off (a migration
  there failed lately), with room (VMs and memory, those on their way counted), whose
  cost is at most (1 - threshold) of the cost where the VM is;
- the VM has stayed `dwell` seconds where it arrived; it moved fewer than `max_moves`
  times in the last `per` seconds; the engine's own limits (so many migrations started
  per window, so many under way at once) are not reached, the moves that save most
  going first.

What passes is a migration (verdict MIGRATE), which the engine counts as under way
until `finished`; without an actuator (`actuate=False`) it is only advised (ADVISE)
and nothing changes. Every VM's latest decision is kept for the API with the costs its
manager weighed; a decision that differs from the VM's last one is `changed`, which the
service logs and counts.
"""

from __future__ import annotations

import gc
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from ctrl.placement.manager import (
    ENGINE_PARAMS,
    HypervisorView,
    Lazy,
    MobilityManager,
    PlacementError,
    Policy,
    Proposal,
    View,
    VMView,
    Why,
    check_manager,
)
from ctrl.placement.records import (
    CAUSE,
    Backoff,
    Counters,
    Decision,
    Limits,
    Placed,
    Target,
    Verdict,
    World,
)

__all__ = ["CAUSE", "Decision", "Limits", "Placed", "PlacementEngine", "Target", "Verdict",
           "World"]

class PlacementEngine:
    def __init__(self, managers: Iterable[MobilityManager], targets: Mapping[str, Target],
                 limits: Limits | None = None, *, actuate: bool = True) -> None:
        self.managers: dict[str, MobilityManager] = {}
        for m in managers:
            check_manager(m, repr(m))
            if m.name in self.managers:
                raise PlacementError(f"two mobility managers are called {m.name!r}")
            self.managers[m.name] = m
        self.targets = dict(targets)
        self.limits = limits or Limits()
        self.actuate = actuate
        self.policies: dict[str, Policy] = {}
        self.decisions: dict[str, Decision] = {}
        self.moving: dict[str, tuple[str, float]] = {}     # ours under way: vm -> (to, when)
        self.history: dict[str, deque[float]] = {}          # vm -> when its moves started
        self.started: deque[float] = deque()                # when any of ours started
        self.backoff: dict[str, Backoff] = {}
        self.counters = Counters()
        self._resolved: dict[int, tuple[Policy, dict[str, float]]] = {}

    # -- policies -------------------------------------------------------------------------

    def check(self, vm: str, policy: Policy, known: Iterable[str] | None = None) -> Policy:
        """The policy as it will be used; PlacementError saying what is wrong with it (an
        unknown manager, parameter or hypervisor, a value out of range)."""
        if known is not None and vm not in set(known):
            raise PlacementError(f"no VM {vm!r} (VMs: {', '.join(sorted(known)) or 'none'})")
        manager = self.managers.get(policy.name)
        if manager is None:
            raise PlacementError(f"{vm}: no mobility manager {policy.name!r} (loaded: "
                                 f"{', '.join(sorted(self.managers))})")
        allowed = set(ENGINE_PARAMS) | set(manager.params)
        for key, value in policy.params.items():
            if key not in allowed:
                raise PlacementError(f"{vm}: {policy.name} takes no parameter {key!r} "
                                     f"(it takes: {', '.join(sorted(allowed))})")
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise PlacementError(f"{vm}: {key} = {value!r}: a number >= 0")
        if policy.params.get("threshold", 0.0) >= 1.0:
            raise PlacementError(f"{vm}: threshold {policy.params['threshold']}: a fraction "
                                 "of the cost, below 1")
        for h in policy.hypervisors:
            if h not in self.targets:
                raise PlacementError(f"{vm}: no hypervisor {h!r} (hypervisors: "
                                     f"{', '.join(sorted(self.targets))})")
            if not self.targets[h].target:
                raise PlacementError(f"{vm}: {h} hosts no VMs (its capacity is 0)")
        return policy

    def set_policy(self, vm: str, policy: Policy | None,
                   known: Iterable[str] | None = None) -> None:
        """Put (checked first: nothing changes when it is refused) or remove a policy."""
        self._resolved.clear()
        if policy is None:
            self.policies.pop(vm, None)
            self.decisions.pop(vm, None)
            return
        self.policies[vm] = self.check(vm, policy, known)

    def param(self, policy: Policy, key: str) -> float:
        """A parameter of the engine's or the manager's: the policy's value, else the
        manager's default, else the engine's."""
        return self.params_of(policy)[key]

    def params_of(self, policy: Policy) -> Mapping[str, float]:
        """Every parameter of a policy, resolved once per policy object (a policy is read
        every round for every VM that follows it)."""
        got = self._resolved.get(id(policy))
        if got is None or got[0] is not policy:
            manager = self.managers.get(policy.name)
            values = {k: default for k, (default, _) in ENGINE_PARAMS.items()}
            if manager is not None:
                values.update(manager.params)
            values.update(policy.params)
            got = self._resolved[id(policy)] = (policy, {k: float(v) for k, v in
                                                         values.items()})
        return got[1]

    # -- migrations the engine started ----------------------------------------------------

    def finished(self, vm: str, ok: bool, why: str, now: float) -> None:
        """Our migration of `vm` ended; a failure backs its destination off."""
        to = self.moving.pop(vm, (None, now))[0]
        if ok:
            self.counters.succeeded += 1
            if to is not None:
                self.backoff.pop(to, None)
            return
        self.counters.failed += 1
        if to is None:
            return
        b = self.backoff.get(to)
        failures = 1 if b is None else b.failures + 1
        wait = min(self.limits.backoff * 2 ** (failures - 1), self.limits.backoff_max)
        self.backoff[to] = Backoff(now + wait, failures, why)

    # -- a round --------------------------------------------------------------------------

    def decide(self, world: World, now: float) -> list[Decision]:
        """Every VM with a policy: its decision this round (MIGRATE ones are under way
        from now on, until `finished`). A round makes some objects per VM (100,000 for
        10,000 VMs) that die with the next: the cyclic collector, which would walk the
        whole heap meanwhile (x2 the round's time here), waits until it ends; nothing
        else runs in between (the round does no I/O)."""
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._decide(world, now)
        finally:
            if paused:
                gc.enable()

    def _decide(self, world: World, now: float) -> list[Decision]:
        self.counters.rounds += 1
        self._expire(now)
        hyps = self._hypervisors(world)
        views: dict[str, VMView] = {}
        out: dict[str, Decision] = {}
        by_manager: dict[str, list[VMView]] = {}
        moving, managers = self.moving, self.managers
        for name, policy in self.policies.items():
            placed = world.vms.get(name)
            if (placed is None or placed.flight is not None or placed.hypervisor is None
                    or name in moving or policy.name not in managers):
                out[name] = self._early(name, policy, placed, now)
                continue
            vm = VMView(name, placed.hypervisor, placed.switch, policy, placed.since,
                        placed.memory_mb, placed.demand, world.attached)
            views[name] = vm
            by_manager.setdefault(policy.name, []).append(vm)
        view = View(now, hyps, views, world.links, lambda vms: world.best(vms, hyps))
        wanted: list[tuple[VMView, Proposal]] = []
        for manager_name, vms in sorted(by_manager.items()):
            for vm, result in self._ask(manager_name, view, vms):
                if isinstance(result, Decision):
                    out[vm.name] = result
                else:
                    wanted.append((vm, result))
        # The moves that save most go first against the limits.
        wanted.sort(key=lambda vp: (-_saving(vp[0], vp[1]), vp[0].name))
        for vm, proposal in wanted:
            out[vm.name] = self._judge(vm, proposal, hyps, now)
        decisions = list(out.values())
        last, counts = self.decisions, self.counters.decisions
        for d in decisions:
            if not d.same(last.get(d.vm)):
                counts[d.verdict.value] = counts.get(d.verdict.value, 0) + 1
            last[d.vm] = d
        return decisions

    def changed(self, decisions: Iterable[Decision], before: Mapping[str, Decision]
                ) -> list[Decision]:
        return [d for d in decisions if not d.same(before.get(d.vm))]

    def _expire(self, now: float) -> None:
        per = self.limits.per
        while self.started and now - self.started[0] > per:
            self.started.popleft()

    def _hypervisors(self, world: World) -> dict[str, HypervisorView]:
        vms: dict[str, list[str]] = {h: [] for h in self.targets}
        memory: dict[str, int] = {h: 0 for h in self.targets}
        moving = self.moving
        for p in world.vms.values():
            h = p.hypervisor
            if h is not None and h in vms:
                vms[h].append(p.name)
                memory[h] += p.memory_mb
            if p.flight is None and p.name not in moving:
                continue
            # On its way elsewhere: it takes room at both ends until it arrives.
            for there in {p.flight, moving.get(p.name, (None,))[0]} - {None, h}:
                if there is not None and there in vms:
                    vms[there].append(p.name)
                    memory[there] += p.memory_mb
        return {n: HypervisorView(n, t.switch, t.site, t.target, t.max_vms, t.max_memory_mb,
                                  tuple(sorted(vms[n])), memory[n])
                for n, t in self.targets.items()}

    def _early(self, name: str, policy: Policy, placed: Placed | None, now: float
               ) -> Decision:
        """A decision before any manager is asked: nothing to do for this VM now."""
        def d(verdict: Verdict, why: Why, at: str | None = None, to: str | None = None
              ) -> Decision:
            return Decision(name, policy.name, at, verdict, to, why, now)

        if policy.name not in self.managers:
            return d(Verdict.ERROR, f"no mobility manager {policy.name!r} is loaded "
                     f"(loaded: {', '.join(sorted(self.managers))})")
        if placed is None:
            return d(Verdict.BLOCKED, "the controller does not know where it is")
        mine = self.moving.get(name)
        if mine is not None:
            return d(Verdict.MOVING, f"its migration to {mine[0]} is under way (started "
                     f"{now - mine[1]:.1f} s ago)", placed.hypervisor, mine[0])
        if placed.flight is not None:
            return d(Verdict.BLOCKED, f"in flight: a migration to {placed.flight} is under "
                     "way (not the engine's): not touched", placed.hypervisor)
        return d(Verdict.BLOCKED, f"at no hypervisor's port (on {placed.switch})")

    def _ask(self, manager_name: str, view: View, vms: Sequence[VMView]
             ) -> list[tuple[VMView, Proposal | Decision]]:
        """One manager's proposals for its VMs; an error decision for each when it fails."""
        manager = self.managers[manager_name]
        now = view.now

        def error(vm: VMView, why: str) -> Decision:
            return Decision(vm.name, manager_name, vm.hypervisor, Verdict.ERROR, None, why, now)

        try:
            proposals = list(manager.propose(view, vms))
            if not all(isinstance(p, Proposal) for p in proposals):
                raise TypeError("propose() must return Proposals")
        except Exception as exc:   # a plug-in's failure is its VMs' error, not ours
            self.counters.manager_errors[manager_name] = (
                self.counters.manager_errors.get(manager_name, 0) + 1)
            why = f"mobility manager {manager_name} failed: {type(exc).__name__}: {exc}"
            return [(vm, error(vm, why)) for vm in vms]
        got = {p.vm: p for p in proposals}
        out: list[tuple[VMView, Proposal | Decision]] = []
        for vm in vms:
            p = got.get(vm.name)
            if p is None:
                out.append((vm, error(vm, f"{manager_name} proposed nothing for it")))
            elif p.to is not None and p.to not in view.hypervisors:
                out.append((vm, error(vm, f"{manager_name} proposed hypervisor {p.to!r}, "
                                          "which does not exist")))
            elif p.to is None or p.to == vm.hypervisor:
                out.append((vm, Decision(vm.name, manager_name, vm.hypervisor, Verdict.STAY,
                                         None, p.why, now, p.costs)))
            else:
                out.append((vm, p))
        return out

    def _judge(self, vm: VMView, p: Proposal, hyps: dict[str, HypervisorView],
               now: float) -> Decision:
        assert vm.hypervisor is not None and p.to is not None
        policy, base = vm.policy, p.why

        def d(verdict: Verdict, reason: Why, to: str | None = None) -> Decision:
            return Decision(vm.name, policy.name, vm.hypervisor, verdict, to, reason, now,
                            p.costs)

        params = self.params_of(policy)
        threshold = params["threshold"]
        here = p.costs.get(vm.hypervisor)
        there = p.costs.get(p.to)
        first = self._refuse(vm, p.to, there, here, threshold, hyps[p.to], now)
        target = p.to if first is None else None
        if first is not None and first[0] is not Verdict.STAY:
            # Its first choice cannot (full, backed off, not allowed): the next cheapest
            # of the costs it gave that can. One that saves too little: it stays.
            others = sorted((h for h in p.costs if h not in (p.to, vm.hypervisor)),
                            key=lambda h: (p.costs[h], h))
            for h in others:
                no = self._refuse(vm, h, p.costs.get(h), here, threshold, hyps[h], now)
                if no is None:
                    target = h
                    break
                if no[0] is Verdict.STAY:
                    break   # the costs go up from here: none further saves enough
        if target is None:
            assert first is not None
            verdict, refused = first
            return d(verdict, Lazy(lambda: f"{base}; but {refused}"))
        chosen = target
        why: Why = base
        if first is not None:
            passed_over = first[1]
            why = Lazy(lambda: f"{base}; {chosen} instead: {passed_over}")
        stay = now - vm.since
        dwell = params["dwell"]
        if stay < dwell:
            return d(Verdict.WAIT, Lazy(lambda: f"{why}; dwell: here {stay:.1f} s of "
                                                f"{dwell:g} s"), target)
        history = self.history.setdefault(vm.name, deque())
        per = params["per"]
        while history and now - history[0] > per:
            history.popleft()
        moves = len(history)
        if moves >= params["max_moves"]:
            return d(Verdict.WAIT, Lazy(lambda: f"{why}; it moved {moves} times in the last "
                                                f"{per:g} s (max_moves)"), target)
        if not self.actuate:
            return d(Verdict.ADVISE, Lazy(lambda: f"{why}; no actuator: advised only"), target)
        lim = self.limits
        under_way, started = len(self.moving), len(self.started)
        if under_way >= lim.concurrent:
            return d(Verdict.WAIT, Lazy(lambda: f"{why}; {under_way} migrations under way "
                                                f"(at most {lim.concurrent} at once)"), target)
        if started >= lim.max_moves:
            return d(Verdict.WAIT, Lazy(lambda: f"{why}; {started} migrations started in the "
                                                f"last {lim.per:g} s (at most "
                                                f"{lim.max_moves})"), target)
        self.moving[vm.name] = (target, now)
        history.append(now)
        self.started.append(now)
        self.counters.started += 1
        hv = hyps[target]
        hyps[target] = replace(hv, vms=(*hv.vms, vm.name),
                               memory_mb=hv.memory_mb + vm.memory_mb)
        return d(Verdict.MIGRATE, why, target)

    def _refuse(self, vm: VMView, h: str, cost: float | None, here: float | None,
                threshold: float, hyp: HypervisorView, now: float
                ) -> tuple[Verdict, Why] | None:
        """Why `vm` does not go to `h` (None: it may)."""
        if not hyp.target:
            return Verdict.BLOCKED, f"{h} hosts no VMs (capacity 0)"
        if vm.policy.hypervisors and h not in vm.policy.hypervisors:
            return Verdict.BLOCKED, f"its policy does not allow {h}"
        b = self.backoff.get(h)
        if b is not None and b.until > now:
            return Verdict.BLOCKED, (f"backing off {h} for {b.until - now:.0f} s more "
                                     f"after {b.failures} failed migration(s): {b.why}")
        if cost is not None and here is not None:
            if not cost < here:
                return Verdict.STAY, Lazy(lambda: f"{h} costs {cost:,.1f}, no less than "
                                                  f"{here:,.1f} here")
            if here > 0 and math.isfinite(here) and (here - cost) / here < threshold:
                return Verdict.STAY, Lazy(lambda: f"{h} saves {100 * (here - cost) / here:.0f}"
                                                  f"%, below its threshold of "
                                                  f"{100 * threshold:.0f}%")
        full = hyp.room_for(vm.memory_mb)
        if full is not None:
            return Verdict.BLOCKED, full
        return None


def _saving(vm: VMView, p: Proposal) -> float:
    here = p.costs.get(vm.hypervisor or "")
    there = p.costs.get(p.to or "")
    if here is None or there is None:
        return 0.0
    if math.isinf(here):
        return math.inf if math.isfinite(there) else 0.0
    return here - there
