"""Faults made on purpose: a lab's process killed (SIGKILL, by its PID) and started again
with the same command line, and how long the fabric then takes to be whole again.

Components are named as `ctrl lab status` lists their processes, with a colon for the
space: `controller`, `ovs-target:SITE`, `bmv2:SWITCH`. A kill is what a crash is: no
clean stop; the OVS daemons a target started forward on with the flows they hold. A
start runs the killed process's own command line again, its output appended to the same
log, and the lab's state points at the new process, so `ctrl lab down` stops it. Whole
again means what the controller says when asked: every switch in sync (its API).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ctrl.lab import procs
from ctrl.lab.build import in_sync, listening
from ctrl.lab.spec import LabError, LabSpec
from ctrl.lab.state import LabState
from ctrl.northbound.client import ApiError, call

KINDS = ("controller", "ovs-target", "bmv2")
KILL_TIMEOUT = 5.0    # s for a SIGKILLed process to be gone
START_TIMEOUT = 60.0  # s for a process started again to serve
SYNC_TIMEOUT = 30.0   # s for every switch to be in sync again
POLL = 0.02           # s between checks: recovery times are this fine


@dataclass(frozen=True, slots=True)
class FaultResult:
    """One component killed and started again; times are time.monotonic()."""

    component: str
    killed: float
    serving: float     # the new process accepts connections (P4Runtime, or the API)
    in_sync: float     # the controller has every switch in sync again

    @property
    def down_s(self) -> float:
        return self.serving - self.killed

    @property
    def recovery_s(self) -> float:
        """Kill to every switch in sync."""
        return self.in_sync - self.killed

    @property
    def sync_after_up_s(self) -> float:
        return self.in_sync - self.serving


def component_name(process: str) -> str:
    return process.replace(" ", ":")


def components(state: LabState) -> list[str]:
    """What can be killed, in the order the lab started them."""
    return [component_name(p.name) for p in state.processes
            if p.name.split(" ", 1)[0] in KINDS]


def _index(state: LabState, component: str) -> int:
    for i, p in enumerate(state.processes):
        if component_name(p.name) == component:
            if p.name.split(" ", 1)[0] not in KINDS:
                break
            return i
    raise LabError(f"no component {component!r} in this lab (components: "
                   f"{', '.join(components(state)) or 'none'})")


def serving_check(state: LabState, spec: LabSpec, component: str) -> tuple[str, str]:
    """(address, what) that answers once `component` serves again."""
    kind, _, which = component.partition(":")
    if kind == "controller":
        return state.api, "answering on its API"
    if kind == "bmv2":
        return spec.switches[which].grpc_addr, "serving P4Runtime"
    members = [sw for sw in spec.switches.values() if sw.site == which]
    if not members:
        raise LabError(f"{component}: the lab has no switch of site {which!r}")
    return members[0].grpc_addr, "serving P4Runtime"


def kill(state: LabState, component: str) -> float:
    """SIGKILL to exactly that process; when it was killed (time.monotonic())."""
    p = state.processes[_index(state, component)]
    if not procs.is_running(p):
        raise LabError(f"{component} (pid {p.pid}) is not running: "
                       f"`ctrl lab fault start {component}`")
    with contextlib.suppress(ProcessLookupError):
        os.kill(p.pid, signal.SIGKILL)
    killed = time.monotonic()
    deadline = killed + KILL_TIMEOUT
    while procs.is_running(p):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(p.pid, os.WNOHANG)
        if time.monotonic() > deadline:
            raise LabError(f"{component} (pid {p.pid}) survived SIGKILL for "
                           f"{KILL_TIMEOUT:.0f} s")
        time.sleep(0.01)
    return killed


def start(state: LabState, component: str) -> float:
    """The killed process's command line again; when it serves (time.monotonic())."""
    i = _index(state, component)
    old = state.processes[i]
    if procs.is_running(old):
        raise LabError(f"{component} runs already (pid {old.pid})")
    new = procs.spawn(old.name, old.argv, Path(old.log))
    state.processes[i] = new
    state.save()
    address, what = serving_check(state, state.spec(), component)
    procs.wait_until(listening(address), new, START_TIMEOUT, what, interval=POLL)
    return time.monotonic()


def _switches_of(spec: LabSpec, component: str) -> list[str]:
    kind, _, which = component.partition(":")
    if kind == "bmv2":
        return [which]
    if kind == "ovs-target":
        return sorted(sw.name for sw in spec.switches.values() if sw.site == which)
    return []


def _reconnects(state: LabState) -> dict[str, int]:
    try:
        rows = call(state.api, "switches", timeout=2)
    except ApiError:
        return {}
    assert isinstance(rows, list)
    return {str(r["name"]): int(r["reconnects"]) for r in rows}


def whole_again(state: LabState, before: dict[str, int]) -> Callable[[], bool]:
    """A check: every switch in sync, and those in `before` (name -> reconnects then)
    reconnected since: an in-sync the controller says before it saw the fault is stale."""
    synced = in_sync(state.api)

    def check() -> bool:
        if not synced():
            return False
        now = _reconnects(state)
        return all(now.get(name, 0) > count for name, count in before.items())
    return check


def wait_in_sync(state: LabState, before: dict[str, int] | None = None,
                 timeout: float = SYNC_TIMEOUT) -> float:
    """When the controller next says that every switch is in sync (time.monotonic())."""
    controller = state.processes[_index(state, "controller")]
    procs.wait_until(whole_again(state, before or {}), controller, timeout,
                     "in sync with every switch", interval=POLL)
    return time.monotonic()


def restart(state: LabState, component: str, down_s: float = 0.0) -> FaultResult:
    """Kill `component`, leave it down `down_s`, start it, wait until all is in sync."""
    served = _switches_of(state.spec(), component)
    counts = _reconnects(state)
    before = {name: counts.get(name, 0) for name in served}
    killed = kill(state, component)
    time.sleep(down_s)
    serving = start(state, component)
    return FaultResult(component, killed, serving, wait_in_sync(state, before))
