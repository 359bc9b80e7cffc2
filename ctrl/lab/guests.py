"""The lab's QEMU guests (`ctrl lab up TOPOLOGY --guests qemu`): each VM a real guest
(ctrl/vm: Debian's cloud kernel, the project's initramfs with the probe's endpoint),
its QEMU in its hypervisor's namespace, its NIC a tap on that hypervisor's bridge br0
(named as a namespace VM's port would be, v<index>), with the MAC, address, gateway
and MTU the lab spec gives it on the kernel command line. Clients stay namespaces.
On DPDK's datapath (`--datapath dpdk`) the NIC is vhost-user instead, a port of the
hypervisor's OVS-DPDK virtual switch (ctrl/lab/vhost.py), added once QEMU listens.

QEMU outlives the `ctrl lab` command that starts it: the lab state keeps it as a
process (PID and start time, ctrl/lab/procs.py) named `qemu VM`, and the next command
finds it there and talks to it over its QMP socket. Its files are
STATE_DIR/qemu/HYPERVISOR/VM-TAP.{qmp,console,log,migrate}.

A live migration (`ctrl lab migrate VM --to HYPERVISOR`):
1. announced (the default), `POST /api/v1/migrate` first: the controller delivers the
   VM's frames at both places until QEMU's announcement at the new one;
2. a QEMU waiting with `-incoming unix:...` in the destination's namespace, its tap on
   the bridge with flooding off: the bridge hands it frames for the VM only once QEMU's
   RARP from there has taught it where the VM is, so nothing stale waits in the tap's
   queue when the guest starts;
3. QMP `migrate`, until it completes; announced, the source's STOP (the guest paused
   for the last copy) is the cue to switch the network over while the guest is paused
   (`POST /api/v1/migrate/VM/switch`), so that the old place stops getting copies
   of its frames while nothing can take them; QEMU's own RARP
   from the destination is what the controller reacts to (unannounced) or finds the
   VM there by (announced);
4. the source QEMU quits and its tap goes.
One that fails leaves the guest running at its source, stops the destination's QEMU
and cancels the announcement (the controller moves the VM back if it was switched).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ctrl.lab import moves, procs, vhost
from ctrl.lab.moves import Migration
from ctrl.lab.procs import Proc
from ctrl.lab.spec import BRIDGE, HostNet, LabError, LabSpec
from ctrl.lab.state import LabState
from ctrl.platform import netns
from ctrl.vm import migration
from ctrl.vm.errors import QmpError, VmError
from ctrl.vm.image import GuestImage, ensure_image, require
from ctrl.vm.qemu import (
    QEMU,
    QEMU_PACKAGE,
    GuestSpec,
    Placement,
    plug,
    probe_accel,
    qemu_argv,
    run_state,
    tail_of,
    unplug,
    wait_booted,
)
from ctrl.vm.qmp import Qmp, QmpEvent

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
GUEST_PORT = 7              # the guest's endpoint echoes UDP and TCP here
BOOT_TIMEOUT = 180.0        # seconds from QEMU's start to the guest's endpoint running
MIGRATION_TIMEOUT = 120.0
UNIX_PATH_MAX = 107         # sun_path less its terminating NUL


def qemu_binary() -> str:
    try:
        return require(QEMU, QEMU_PACKAGE, "for the lab's QEMU guests")
    except VmError as exc:
        raise LabError(str(exc)) from None


def prepare() -> GuestImage:
    """QEMU and the guest image (made now on first use), or a LabError that says what to
    install: before the lab makes anything."""
    qemu_binary()
    try:
        return ensure_image()
    except VmError as exc:
        raise LabError(f"no guest image: {exc}") from exc


def guest_spec(host: HostNet) -> GuestSpec:
    return GuestSpec(host.name, host.mac, host.ip, host.prefix, host.gateway, GUEST_PORT,
                     mtu=host.mtu)


def proc_name(vm: str, incoming_at: str | None = None) -> str:
    return f"qemu {vm}" + (f" (incoming at {incoming_at})" if incoming_at else "")


def placement(state: LabState, spec: LabSpec, host: HostNet, hypervisor: str) -> Placement:
    hv = spec.hypervisor(hypervisor)
    place = Placement(hv.ns, BRIDGE, hv.guest_port(host), state.dir / "qemu" / hypervisor,
                      vhost=spec.vhost)
    longest = str(place.path(guest_spec(host), "migrate"))
    if len(longest) > UNIX_PATH_MAX:
        raise LabError(f"{longest}: too long for a unix socket ({UNIX_PATH_MAX} bytes at "
                       "most); give the lab a shorter --state-dir")
    return place


@dataclass(slots=True)
class LabGuest:
    """One QEMU of the lab with a QMP session: a ctrl.vm.migration.Endpoint."""

    spec: GuestSpec
    place: Placement
    proc: Proc
    qmp: Qmp
    incoming: str | None
    hypervisor: str

    def running(self) -> bool:
        return procs.is_running(self.proc)

    def status(self) -> str:
        return run_state(self.qmp, self.spec.name)


def image_of(state: LabState) -> GuestImage:
    if state.image is None:
        raise LabError("this lab has no QEMU guests (`ctrl lab up TOPOLOGY --guests qemu`)")
    kernel, initramfs, version = state.image
    return GuestImage(Path(kernel), Path(initramfs), version)


def start(state: LabState, spec: LabSpec, host: HostNet, hypervisor: str, *,
          incoming: bool = False) -> LabGuest:
    """A QEMU for `host` at `hypervisor` (waiting for a migration, with `incoming`),
    kept in the lab state; on failure nothing of it is left."""
    qemu = qemu_binary()
    gspec, place = guest_spec(host), placement(state, spec, host, hypervisor)
    place.workdir.mkdir(parents=True, exist_ok=True)
    for what in ("qmp", "console", "migrate", "vhost"):
        place.path(gspec, what).unlink(missing_ok=True)
    uri = f"unix:{place.path(gspec, 'migrate')}" if incoming else None
    argv = qemu_argv(qemu, image_of(state), gspec, place, state.accel, uri)
    plug(place, host.mac, mtu=host.mtu, flood=not incoming)
    try:
        p = procs.spawn(proc_name(host.name, hypervisor if incoming else None), argv,
                        place.path(gspec, "log"), ns=place.ns)
    except BaseException:
        unplug(place)
        raise
    state.processes.append(p)
    state.save()
    try:
        if place.vhost:
            # QEMU waits for the switch before anything else (QMP too): once its socket
            # is there, the switch's port, which connects to it.
            sock = place.path(gspec, "vhost")
            procs.wait_until(sock.exists, p, 30.0, f"listening on {sock}", interval=0.01)
            vhost.attach(state, spec, hypervisor, place.tap, sock)
        qmp = Qmp.connect(place.path(gspec, "qmp"), timeout=30.0, name=host.name,
                          alive=lambda: procs.is_running(p))
    except BaseException as exc:
        _end(state, spec, p, place, hypervisor)
        if isinstance(exc, VmError):
            raise LabError(f"{host.name}: QEMU did not come up at {hypervisor} ({exc}); "
                           f"its log: {p.log}") from exc
        raise
    return LabGuest(gspec, place, p, qmp, uri, hypervisor)


def attach(state: LabState, spec: LabSpec, host: HostNet) -> LabGuest:
    """The running QEMU of `host`, found in the lab state, with a QMP session."""
    at = state.locations.get(host.name, host.hypervisor)
    p = next((p for p in state.processes if p.name == proc_name(host.name)), None)
    gspec, place = guest_spec(host), placement(state, spec, host, at)
    if p is None or not procs.is_running(p):
        raise LabError(f"{host.name}: its QEMU is not running"
                       + (f" (its log: {p.log}: {tail_of(Path(p.log))}; its console ends: "
                          f"{tail_of(place.path(gspec, 'console'))})" if p else "")
                       + "; `ctrl lab down` and up again")
    try:
        qmp = Qmp.connect(place.path(gspec, "qmp"), timeout=10.0, name=host.name,
                          alive=lambda: procs.is_running(p))
    except VmError as exc:
        raise LabError(f"{host.name}: no QMP session with its QEMU ({exc})") from exc
    return LabGuest(gspec, place, p, qmp, None, at)


def stop(state: LabState, guest: LabGuest) -> None:
    """QMP `quit`, then by its PID if need be; its tap and sockets go, and it leaves the
    lab state."""
    with contextlib.suppress(QmpError):
        guest.qmp.execute("quit", timeout=2.0)
    guest.qmp.close()
    _end(state, state.spec(), guest.proc, guest.place, guest.hypervisor)


def _end(state: LabState, spec: LabSpec, p: Proc, place: Placement, hypervisor: str) -> None:
    """QEMU stopped by its PID, its tap or its switch port removed, out of the state."""
    procs.stop(p, timeout=5.0)
    if place.vhost:
        vhost.detach(state, spec, hypervisor, place.tap)
    unplug(place)
    state.processes = [q for q in state.processes if q != p]
    state.save()


def boot(state: LabState, spec: LabSpec, accel: str, say: Progress) -> None:
    """Start every guest of the lab at its hypervisor and wait until each one's endpoint
    runs; `accel` 'auto' takes KVM only where a probe guest shows that it runs."""
    guests = [h for h in spec.hosts.values() if h.guest]
    if not guests:
        return
    if accel == "auto":
        first = spec.hypervisor(guests[0].hypervisor)
        accel = probe_accel(image_of(state), state.dir / "qemu", first.ns, BRIDGE,
                            qemu=qemu_binary())
    state.accel = accel
    state.save()
    started: list[LabGuest] = []
    try:
        for host in guests:
            started.append(start(state, spec, host, host.hypervisor))
        for g in started:
            try:
                wait_booted(g.spec, g.place, BOOT_TIMEOUT, g.running)
            except VmError as exc:
                raise LabError(f"{exc}; its log: {g.proc.log}") from exc
    finally:
        for g in started:
            g.qmp.close()
    say(f"{len(guests)} QEMU guests ({accel}) booted: "
        + ", ".join(f"{g.spec.name} at {g.hypervisor}" for g in started))


def live_migrate(state: LabState, spec: LabSpec, host: HostNet, src: str, to: str, *,
                 announce: bool, max_bandwidth: int | None = None,
                 timeout: float = MIGRATION_TIMEOUT, cause: str = "operator") -> Migration:
    """Live-migrate `host`'s guest from `src` to `to` (see the module's docstring)."""
    source = attach(state, spec, host)
    try:
        asked = time.monotonic()
        if announce:
            moves.announce(state, host.name, to, cause)
            source.qmp.on_event = _switch_on_stop(state, host.name)
        try:
            dest = start(state, spec, host, to, incoming=True)
        except BaseException:
            if announce:
                moves.cancel(state, host.name)
            raise
        try:
            stats = migration.migrate(source, dest, timeout, max_bandwidth)
        except BaseException as exc:
            with contextlib.suppress(VmError):
                migration.abandon(source)
            stop(state, dest)
            if announce:
                moves.cancel(state, host.name)
            if isinstance(exc, VmError):
                raise LabError(f"{host.name} did not move to {to}: {exc}") from exc
            raise
        finished = time.monotonic()
        paused, resumed = _pause(stats, finished)
        done = Migration(host.name, src, to, announce, asked, paused, resumed,
                         float(stats.downtime_ms or 0), float(stats.total_ms or 0), cause)
        _arrived(state, dest)
        moves.record(state, done)
        stop(state, source)
    finally:
        source.qmp.close()
    log.info("%s: %s -> %s, QEMU's downtime %.0f ms, the guest paused %.1f ms", host.name,
             src, to, done.qemu_downtime_ms, done.downtime * 1e3)
    return done


def _switch_on_stop(state: LabState, name: str) -> Callable[[QmpEvent], None]:
    """A QMP event callback: at the source's first STOP, the switch-over."""
    stopped: list[float] = []

    def on_event(ev: QmpEvent) -> None:
        if ev.name == "STOP" and not stopped:
            stopped.append(ev.timestamp)
            moves.switch(state, name)
    return on_event


def _arrived(state: LabState, dest: LabGuest) -> None:
    """The destination runs the guest: it is the guest's QEMU now, and its tap is an
    ordinary port of the bridge again."""
    dest.qmp.close()
    renamed = replace(dest.proc, name=proc_name(dest.spec.name))
    state.processes = [renamed if p == dest.proc else p for p in state.processes]
    state.save()
    if not dest.place.vhost:   # a vhost-user port was never one that floods less
        netns.set_flood_in(dest.place.tap, dest.place.ns, True)


def _pause(stats: migration.MigrationStats, finished: float) -> tuple[float, float]:
    """The guest's pause on this process's monotonic clock: QEMU's STOP and RESUME events
    (stamped with the wall clock), else the end of the migration less QEMU's downtime."""
    offset = time.time() - time.monotonic()
    if stats.stopped_at is not None and stats.resumed_at is not None:
        return stats.stopped_at - offset, stats.resumed_at - offset
    return finished - (stats.downtime_ms or 0) / 1e3, finished
