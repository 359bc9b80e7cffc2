"""Faults made on purpose: a lab's process killed (SIGKILL, by its PID) and started again
with the same command line, and how long the fabric then takes to be whole again.

Components are named as `ctrl lab status` lists their processes, with a colon for the
space: `controller` (`controller-1`, ... of a pair), `ovs-target:SITE`, `bmv2:SWITCH`;
and `vswitchd:SITE`, a site's ovs-vswitchd (its target's daemon). A kill is what a crash
is: no clean stop; the OVS daemons a target started forward on with the flows they hold.
A start runs the killed process's own command line again, its output appended to the
same log, and the lab's state points at the new process, so `ctrl lab down` stops it.
ovs-vswitchd killed takes its flows with it; its target notices, starts it again at once
and puts the flows back (ctrl/targets/ovs/supervise.py): its start is waiting for that,
and it is up once the new daemon runs. Whole again means what a controller says when
asked (its API): primary on every switch, each in sync.
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
from ctrl.lab.build import listening, vswitchd_dir
from ctrl.lab.moves import primary_api
from ctrl.lab.procs import Proc
from ctrl.lab.spec import LabError, LabSpec
from ctrl.lab.state import LabState
from ctrl.northbound.client import ApiError, call
from ctrl.targets.ovs.daemon import OvsDaemons

KINDS = ("controller", "ovs-target", "bmv2")   # processes of the lab's own
VSWITCHD = "vswitchd"   # a site's ovs-vswitchd: its target's daemon, started again by it
KILL_TIMEOUT = 5.0    # s for a SIGKILLed process to be gone
START_TIMEOUT = 60.0  # s for a process started again to serve
SYNC_TIMEOUT = 30.0   # s for every switch to be in sync again
POLL = 0.02           # s between checks: recovery times are this fine
VSWITCHD_PROCESS = "ovs-vswitchd"


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
        """Negative where the fabric was whole before it was back (a pair's failover)."""
        return self.in_sync - self.serving


def component_name(process: str) -> str:
    return process.replace(" ", ":")


def _kind(process: str) -> str:
    """controller (also controller-N of a pair), ovs-target or bmv2; else the name."""
    first = process.split(" ", 1)[0]
    return "controller" if first.startswith("controller") else first


def components(state: LabState) -> list[str]:
    """What can be killed, in the order the lab started them (a site's ovs-vswitchd after
    its target)."""
    out = []
    for p in state.processes:
        if _kind(p.name) in KINDS:
            out.append(component_name(p.name))
        if _kind(p.name) == "ovs-target":
            out.append(f"{VSWITCHD}:{p.name.split(' ', 1)[1]}")
    return out


def _no_component(state: LabState, component: str) -> LabError:
    return LabError(f"no component {component!r} in this lab (components: "
                    f"{', '.join(components(state)) or 'none'})")


def _vswitchd(state: LabState, component: str) -> tuple[OvsDaemons, Proc]:
    """A site's ovs-vswitchd (as its run directory's daemons) and the target that runs it."""
    site = component.partition(":")[2]
    target = next((p for p in state.processes if p.name == f"ovs-target {site}"), None)
    if target is None:
        raise _no_component(state, component)
    return OvsDaemons(vswitchd_dir(state, state.spec(), site)), target


def _index(state: LabState, component: str) -> int:
    for i, p in enumerate(state.processes):
        if component_name(p.name) == component:
            if _kind(p.name) not in KINDS:
                break
            return i
    raise _no_component(state, component)


def serving_check(state: LabState, spec: LabSpec, component: str) -> tuple[str, str]:
    """(address, what) that answers once `component` serves again."""
    kind, _, which = component.partition(":")
    if kind == "controller":
        return state.api, "answering on its API"
    if kind.startswith("controller-"):
        i = int(kind.removeprefix("controller-"))
        return _apis(state)[i - 1], "answering on its API"
    if kind == "bmv2":
        return spec.switches[which].grpc_addr, "serving P4Runtime"
    members = [sw for sw in spec.switches.values() if sw.site == which]
    if not members:
        raise LabError(f"{component}: the lab has no switch of site {which!r}")
    return members[0].grpc_addr, "serving P4Runtime"


def kill(state: LabState, component: str) -> float:
    """SIGKILL to exactly that process; when it was killed (time.monotonic())."""
    if component.startswith(f"{VSWITCHD}:"):
        return _kill_vswitchd(state, component)
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


def vswitchd_pid(state: LabState, component: str) -> int | None:
    """The PID of a site's ovs-vswitchd (`vswitchd:SITE`), None where none runs."""
    daemons, _ = _vswitchd(state, component)
    return daemons.running(VSWITCHD_PROCESS)


def _kill_vswitchd(state: LabState, component: str) -> float:
    daemons, _ = _vswitchd(state, component)
    pid = daemons.running(VSWITCHD_PROCESS)
    if pid is None:
        raise LabError(f"{component} is not running (its target starts it)")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    while daemons.running(VSWITCHD_PROCESS) == pid:   # gone (or already another)
        if time.monotonic() > killed + KILL_TIMEOUT:
            raise LabError(f"{component} (pid {pid}) survived SIGKILL for "
                           f"{KILL_TIMEOUT:.0f} s")
        time.sleep(0.005)
    return killed


def _vswitchd_up(state: LabState, component: str) -> float:
    """When a site's ovs-vswitchd runs again, started by its target (at once, if it
    runs already)."""
    daemons, target = _vswitchd(state, component)
    if daemons.running(VSWITCHD_PROCESS) is None and not procs.is_running(target):
        raise LabError(f"{component} is started by its target, which does not run: `ctrl lab "
                       f"fault start {component_name(target.name)}` starts both (and puts "
                       "the flows back)")
    procs.wait_until(lambda: daemons.running(VSWITCHD_PROCESS) is not None, target,
                     START_TIMEOUT, "starting ovs-vswitchd again", interval=0.005)
    return time.monotonic()


def start(state: LabState, component: str) -> float:
    """The killed process's command line again; when it serves (time.monotonic()).
    A site's ovs-vswitchd: when it runs again, started by its target."""
    if component.startswith(f"{VSWITCHD}:"):
        return _vswitchd_up(state, component)
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
    if kind in ("ovs-target", VSWITCHD):
        return sorted(sw.name for sw in spec.switches.values() if sw.site == which)
    return []


def _apis(state: LabState) -> list[str]:
    return [state.api, *state.apis]


def _rows(api: str) -> list[dict[str, object]]:
    try:
        rows = call(api, "switches", timeout=2)
    except ApiError:
        return []
    assert isinstance(rows, list)
    return rows


def _reconnects(state: LabState) -> dict[str, dict[str, int]]:
    """Per controller API: per switch, its reconnects now."""
    return {api: {str(r["name"]): int(str(r["reconnects"])) for r in _rows(api)}
            for api in _apis(state)}


def whole_again(state: LabState, before: dict[str, dict[str, int]]) -> Callable[[], bool]:
    """A check: a controller is primary on every switch with every one in sync, and it
    reconnected since `before` (per API: switch -> reconnects then) to the switches named
    there: an in-sync it says before it saw the fault is stale."""
    def check() -> bool:
        for api in _apis(state):
            rows = _rows(api)
            if not rows or not all(r.get("in_sync") and r.get("primary") for r in rows):
                continue
            now = {str(r["name"]): int(str(r["reconnects"])) for r in rows}
            if all(now.get(name, 0) > count
                   for name, count in before.get(api, {}).items()):
                return True
        return False
    return check


def wait_in_sync(state: LabState, before: dict[str, dict[str, int]] | None = None,
                 timeout: float = SYNC_TIMEOUT) -> float:
    """When a controller next says it is primary on every switch, all in sync
    (time.monotonic())."""
    running = [p for p in state.processes if _kind(p.name) == "controller"
               and procs.is_running(p)]
    if not running:
        raise LabError("no controller of the lab runs")
    procs.wait_until(whole_again(state, before or {}), running[0], timeout,
                     "primary and in sync with every switch", interval=POLL)
    return time.monotonic()


def host_at(state: LabState, host: str, hypervisor: str) -> Callable[[], bool]:
    """A check: the controller (the primary of a pair) has `host` at `hypervisor`'s port."""
    spec = state.spec()
    mac, hv = spec.hosts[host].mac.lower(), spec.hypervisors[hypervisor]

    def check() -> bool:
        try:   # a standby's own tracker is not the pair's
            rows = call(primary_api(state), "hosts", timeout=2)
        except (ApiError, LabError):
            return False
        return isinstance(rows, list) and any(
            str(r.get("mac", "")).lower() == mac and r.get("switch") == hv.switch
            and r.get("port") == hv.port for r in rows)
    return check


def wait_host_at(state: LabState, host: str, hypervisor: str,
                 timeout: float = SYNC_TIMEOUT) -> float:
    """When the controller has `host` at `hypervisor` and every switch in sync with that
    (time.monotonic())."""
    running = [p for p in state.processes if _kind(p.name) == "controller"
               and procs.is_running(p)]
    if not running:
        raise LabError("no controller of the lab runs")
    procs.wait_until(host_at(state, host, hypervisor), running[0], timeout,
                     f"placing {host} at {hypervisor}", interval=POLL)
    return wait_in_sync(state, timeout=timeout)


def restart(state: LabState, component: str, down_s: float = 0.0,
            meanwhile: Callable[[], object] | None = None) -> FaultResult:
    """Kill `component`, leave it down `down_s`, start it, wait until all is in sync.
    A site's ovs-vswitchd is started again by its target as soon as it notices: `down_s`
    does not apply. `meanwhile`: done once it is killed (within `down_s` if it can)."""
    served = _switches_of(state.spec(), component)
    before = {api: {name: counts.get(name, 0) for name in served}
              for api, counts in _reconnects(state).items()}
    pair = _kind(component) == "controller" and state.controllers > 1
    killed = kill(state, component)
    if meanwhile is not None:
        meanwhile()
    if component.startswith(f"{VSWITCHD}:"):   # its target starts it again as it notices
        serving = start(state, component)
        return FaultResult(component, killed, serving, wait_in_sync(state, before))
    if pair:   # failover: another controller is primary and in sync while this one is down
        synced = wait_in_sync(state, before)
        time.sleep(max(0.0, killed + down_s - time.monotonic()))
        return FaultResult(component, killed, start(state, component), synced)
    time.sleep(max(0.0, killed + down_s - time.monotonic()))
    serving = start(state, component)
    return FaultResult(component, killed, serving, wait_in_sync(state, before))
