"""`ctrl lab chaos`: every component of the lab killed in turn (kill -9) and started
again under the probe, with a migration from the lab's `demo` list after each, until the
time is up; each step measured on its own.

Per fault the table says how long the component was down, how long until the
controller had every switch in sync again, what the probe lost meanwhile (no VM moves
during a fault: every flow is one that did not move, so anything lost is the fault's)
and whether its TCP stream lived. A site's ovs-vswitchd takes its flows with it: what
crossed it while it was down is lost, so its figure is how long after it was up again
the traffic was back. The migrations in between show that the fabric still does its job
after each fault; their interruption is the usual one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ctrl.lab import faults, moves
from ctrl.lab.demo import endpoints, migrate_apart, probe_options
from ctrl.lab.faults import FaultResult
from ctrl.lab.moves import Migration
from ctrl.lab.probe import Probe
from ctrl.lab.report import Report
from ctrl.lab.spec import LabError, LabSpec
from ctrl.lab.state import LabState

SETTLE_S = 0.5     # probe time before a fault, and after the fabric is whole again
DOWN_S = 0.5       # how long a killed component stays down (not ovs-vswitchd: its target
                   # starts it again as soon as it notices)
KILL_SLACK_S = 0.05  # datagrams sent just before a kill and queued at it are lost with it
END_S = 0.1        # a run of loss that ends this close to the probe's end never ended
MOVED_SETTLE_S = 1.0  # after a VM moved while the controller was down: TCP catches up


@dataclass(frozen=True, slots=True)
class ChaosStep:
    label: str
    report: Report                 # the probe's, over this step alone
    fault: FaultResult | None = None
    migration: Migration | None = None
    back_s: float | None = None    # traffic back this long after the component was up
    found_s: float | None = None   # a VM moved while the controller was down: converged
                                   # (at its new place, every switch in sync) after it was up

    @property
    def moved_meanwhile(self) -> bool:
        """A VM moved while the component was down: its flows lost until it is found."""
        return self.fault is not None and self.migration is not None

    @property
    def loses_its_flows(self) -> bool:
        """A fault whose flows die with it (ovs-vswitchd): what it carried meanwhile is
        lost by definition."""
        return self.fault is not None and self.fault.component.startswith(
            f"{faults.VSWITCHD}:")

    @property
    def lost(self) -> int:
        return sum(u.lost for u in self.report.udp)

    @property
    def tcp_ok(self) -> bool:
        return all(t.survived and t.complete and t.in_order for t in self.report.tcp)

    @property
    def back(self) -> bool:
        """No run of loss lasted until the probe stopped: the traffic came back."""
        return all(g.at + g.ms / 1e3 < self.report.duration_s - END_S
                   for u in self.report.udp for g in u.losses)

    @property
    def ok(self) -> bool:
        """A fault: nothing lost (ovs-vswitchd: the traffic back), TCP alive. A migration:
        TCP alive."""
        if self.fault is None:
            return self.tcp_ok
        if self.moved_meanwhile:
            return self.tcp_ok and self.back and self.found_s is not None
        return self.tcp_ok and (self.back if self.loses_its_flows else self.lost == 0)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"label": self.label, "lost": self.lost,
                                  "tcp_ok": self.tcp_ok, "ok": self.ok,
                                  "longest_gap_ms": self.report.longest_gap_ms}
        if self.fault is not None:
            f = self.fault
            out |= {"component": f.component, "down_s": round(f.down_s, 4),
                    "recovery_s": round(f.recovery_s, 4),
                    "sync_after_up_s": round(f.sync_after_up_s, 4),
                    "traffic_back_after_up_s": (None if self.back_s is None
                                                else round(self.back_s, 4))}
            if self.found_s is not None:
                out["moved_converged_after_up_s"] = round(self.found_s, 4)
        if self.migration is not None:
            m = self.migration
            out |= {"vm": m.host, "from": m.src, "to": m.dst,
                    "pause_ms": round(m.downtime * 1e3, 3)}
        return out


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.0f} ms"


def traffic_back(report: Report, origin: float, fault: FaultResult) -> float | None:
    """How long after the component was up (`fault.serving`) the traffic was back: the
    end of the run of loss that began with the kill and lasted until it was up, the later
    of either direction (`origin`: the probe's time 0, a time.monotonic() reading); None
    where no run of loss spans its return. Pure."""
    since, up = fault.killed - origin - KILL_SLACK_S, fault.serving - origin
    ends = [g.at + g.ms / 1e3 for u in report.udp for g in u.losses
            if since <= g.at <= up <= g.at + g.ms / 1e3]
    return None if not ends else origin + max(ends) - fault.serving


def table(steps: Sequence[ChaosStep]) -> list[str]:
    rows = [("step", "down", "in sync after", "after up", "UDP lost", "back after up",
             "longest gap", "TCP")]
    for s in steps:
        f = s.fault
        rows.append((s.label,
                     _ms(f.down_s) if f else "-",
                     _ms(f.recovery_s) if f else "-",
                     ("-" if not f else _ms(f.sync_after_up_s) if f.sync_after_up_s >= 0
                      else "before"),
                     str(s.lost),
                     ("-" if not f or s.back_s is None else
                      _ms(s.back_s) if s.back else "NEVER"),
                     f"{s.report.longest_gap_ms:,.1f} ms",
                     "alive" if s.tcp_ok else "BROKEN"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in rows]


def _next_move(spec: LabSpec, state: LabState, turn: int) -> tuple[str, str] | None:
    """The next of the lab's demo migrations that can be made from where VMs are now."""
    steps = spec.demo
    for i in range(len(steps)):
        step = steps[(turn + i) % len(steps)]
        if state.locations.get(step.vm, spec.hosts[step.vm].hypervisor) != step.to:
            return step.vm, step.to
    return None


def run_chaos(state: LabState, duration: float, *, only: Sequence[str] = (),
              say: Callable[[str], None] = print) -> list[ChaosStep]:
    """Rounds of faults (every component, or those in `only`) until `duration` seconds
    have passed; at least one round."""
    if not state.up:
        raise LabError("the lab is not up (`ctrl lab up TOPOLOGY` first)")
    spec = state.spec()
    every = faults.components(state)
    unknown = sorted(set(only) - set(every))
    if unknown:
        raise LabError(f"no component {', '.join(unknown)} in this lab "
                       f"(components: {', '.join(every)})")
    chosen = [c for c in every if not only or c in only]
    moves.hold_placement(state, (step.vm for step in spec.demo))   # moved by hand here
    a, b = endpoints(spec)
    options = probe_options(spec)
    steps: list[ChaosStep] = []
    end = time.monotonic() + duration
    turn = 0
    while not steps or time.monotonic() < end:
        for component in chosen:
            how = ("its target starts it again" if component.startswith(f"{faults.VSWITCHD}:")
                   else f"down {DOWN_S:g} s, started again")
            say(f"[{len(steps) + 1}] kill -9 {component}, {how}")
            with Probe(a, b, options) as probe:
                time.sleep(SETTLE_S)
                fault = faults.restart(state, component, DOWN_S)
                time.sleep(SETTLE_S)
            assert probe.report is not None
            step = ChaosStep(f"kill -9 {component}", probe.report, fault=fault,
                             back_s=traffic_back(probe.report, probe.origin, fault))
            when = (f"{_ms(fault.sync_after_up_s)} after it was up"
                    if fault.sync_after_up_s >= 0 else "another controller took over")
            back = ("" if step.back_s is None else
                    f" (traffic back {_ms(step.back_s)} after it was up)" if step.back else
                    " (the traffic did NOT come back)")
            say(f"    in sync {_ms(fault.recovery_s)} after the kill ({when}); {step.lost} "
                f"datagrams lost{back}; TCP {'alive' if step.tcp_ok else 'BROKEN'}")
            steps.append(step)
            move = _next_move(spec, state, turn)
            turn += 1
            if move is None:
                continue
            if component == "controller":   # the one controller: a VM moves while it is down
                steps.append(_moved_while_down(state, component, move, say, len(steps) + 1))
                continue
            with Probe(a, b, options) as probe:
                time.sleep(SETTLE_S)
                m = migrate_apart(state, *move, announce=True)
                faults.wait_in_sync(state)
                time.sleep(SETTLE_S)
            assert probe.report is not None
            step = ChaosStep(f"migrate {m.host} {m.src} -> {m.dst}", probe.report,
                             migration=m)
            say(f"    {step.label}: paused {m.downtime * 1e3:.1f} ms; "
                f"TCP {'alive' if step.tcp_ok else 'BROKEN'}")
            steps.append(step)
    return steps


def _moved_while_down(state: LabState, component: str, move: tuple[str, str],
                      say: Callable[[str], None], number: int) -> ChaosStep:
    """`component` (the one controller) killed, a VM moved meanwhile (unannounced: its RARP
    reaches no controller), the controller started: how long after it was up the VM is
    placed and every switch in sync, and its traffic back."""
    vm, to = move
    spec = state.spec()
    a, b = endpoints(spec)
    say(f"[{number}] kill -9 {component}; {vm} -> {to} while it is down (its RARP reaches "
        "no controller); started again")
    moved: list[Migration] = []
    with Probe(a, b, probe_options(spec)) as probe:
        time.sleep(SETTLE_S)
        fault = faults.restart(state, component, DOWN_S, meanwhile=lambda: moved.append(
            migrate_apart(state, vm, to, announce=False)))
        found = faults.wait_host_at(state, vm, to)
        time.sleep(MOVED_SETTLE_S)
    assert probe.report is not None
    m = moved[0]
    step = ChaosStep(f"kill -9 {component}; migrate {m.host} {m.src} -> {m.dst} meanwhile",
                     probe.report, fault=fault, migration=m,
                     back_s=traffic_back(probe.report, probe.origin, fault),
                     found_s=found - fault.serving)
    back = ("" if step.back_s is None else f", its traffic back {_ms(step.back_s)} after"
            if step.back else ", its traffic did NOT come back")
    say(f"    {vm} at {to} and every switch in sync {_ms(found - fault.serving)} after the "
        f"controller was up{back}; TCP {'alive' if step.tcp_ok else 'BROKEN'}")
    return step
