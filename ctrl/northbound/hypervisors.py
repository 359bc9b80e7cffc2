"""The controller's hypervisors, reached through libvirt (libvirt-python).

`ctrl serve --libvirt HYPERVISOR=URI` (one per hypervisor) subscribes to each one's
domain lifecycle events (ctrl/vm/libvirt_events.py) and turns a domain arriving at a
destination into an announced migration (`Controller.announce`: delivered at both
places), the source pausing for the last copy into the switch-over, and one that
failed into a cancel (ctrl/northbound/hvevents.py says which event is which). It can also ask
libvirt to perform a live migration with the network readied first (`POST
/api/v1/migrate` with `"libvirt": true`, or `ctrl migrate VM --to HYPERVISOR --libvirt`).

    async with Hypervisors(controller, {"hv1": "qemu+ssh://hv1/system", ...}) as hvs:
        await controller.run(stop)

libvirt's events arrive on its event loop's thread; each is handed, with the domain's
MACs, to the controller's asyncio loop, where one task applies them in order. A
migration libvirt performs runs on a worker thread, its connections those of the
monitors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import xml.etree.ElementTree as ET
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any, Protocol

from ctrl.control.hosts import Host, HostError
from ctrl.control.topology import Topology
from ctrl.errors import MobilityError
from ctrl.northbound.hvevents import Action, Announce, MigrationPolicy, SwitchOver
from ctrl.p4rt.values import int_to_mac
from ctrl.vm.libvirt_events import EventLoop, LifecycleMonitor, MigrationEvent, load_libvirt

log = logging.getLogger(__name__)


class HypervisorError(MobilityError, RuntimeError):
    """A hypervisor that cannot be reached, or a migration that libvirt did not make."""


class Announcer(Protocol):
    """What of the controller (ctrl.control.runner.Controller) this needs."""

    @property
    def topo(self) -> Topology: ...
    async def announce(self, vm: str, hypervisor: str, cause: str = "") -> object: ...
    async def switch_over(self, vm: str) -> object: ...
    async def cancel(self, vm: str) -> object: ...
    def find(self, vm: str) -> Host: ...
    def hypervisor_of(self, vm: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class LibvirtMigration:
    vm: str
    src: str           # hypervisors
    dst: str
    domain: str
    downtime_ms: int | None   # libvirt's job statistics of the completed migration
    total_ms: int | None


def parse_uris(items: Sequence[str], hypervisors: Collection[str], option: str
               ) -> dict[str, str]:
    """`HYPERVISOR=URI` items (a command line's) as a map; every HYPERVISOR one of the
    topology's, each given once."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, uri = item.partition("=")
        if not sep or not name or not uri:
            raise HypervisorError(f"{option} {item!r}: give HYPERVISOR=URI")
        if name not in hypervisors:
            raise HypervisorError(f"{option} {item!r}: no hypervisor {name!r} in the "
                                  f"topology (hypervisors: {', '.join(sorted(hypervisors))})")
        if name in out:
            raise HypervisorError(f"{option}: {name} given twice")
        out[name] = uri
    return out


def domain_macs(xml: str) -> list[str]:
    """The MACs of a domain's NICs, from its XML description."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return []
    return [str(m.get("address")).lower() for m in root.iterfind("devices/interface/mac")
            if m.get("address")]


class Hypervisors:
    """One libvirt connection per hypervisor, its events applied to `controller`; owned
    by `async with` (one task applies the events; leaving it closes everything)."""

    def __init__(self, controller: Announcer, uris: Mapping[str, str],
                 migrate_uris: Mapping[str, str] | None = None) -> None:
        self.controller = controller
        self.uris = dict(uris)
        self.migrate_uris = dict(migrate_uris or {})
        self.policy = MigrationPolicy({name: vm.mac for name, vm in controller.topo.vms.items()
                                       if vm.role == "vm"})
        self.monitors: dict[str, LifecycleMonitor] = {}
        self.applied: list[tuple[MigrationEvent, Action, str | None]] = []  # error or None
        self.handled = 0   # events taken from libvirt and dealt with (acted on or not)
        self._events: EventLoop | None = None
        self._queue: asyncio.Queue[tuple[MigrationEvent, list[str]]] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Hypervisors:
        self._loop = asyncio.get_running_loop()
        self._events = EventLoop().start()
        try:
            for name, uri in self.uris.items():
                monitor = LifecycleMonitor(self._events, uri, name, partial(self._seen, name))
                await asyncio.to_thread(monitor.open)
                self.monitors[name] = monitor
                log.info("%s: libvirt at %s, its domains' migrations announced", name, uri)
        except BaseException:
            self._close()
            raise
        self._task = asyncio.create_task(self._apply_events(), name="libvirt-events")
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._close()

    def _close(self) -> None:
        for monitor in self.monitors.values():
            monitor.close()
        self.monitors.clear()
        if self._events is not None:
            self._events.stop()
            self._events = None

    # ---- events: libvirt's thread -> the controller's loop ----

    def _seen(self, hypervisor: str, ev: MigrationEvent) -> None:
        """On libvirt's thread: the domain's MACs while it is there to ask, then over."""
        macs = self._macs(hypervisor, ev.uuid)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (ev, macs))

    def _macs(self, hypervisor: str, uuid: str) -> list[str]:
        monitor = self.monitors.get(hypervisor)
        if monitor is None or monitor.conn is None:
            return []
        try:
            return domain_macs(monitor.conn.lookupByUUIDString(uuid).XMLDesc(0))
        except Exception as exc:   # libvirtError: the domain is gone already
            log.debug("%s: no XML of domain %s: %s", hypervisor, uuid, exc)
            return []

    async def _apply_events(self) -> None:
        while True:
            ev, macs = await self._queue.get()
            action = self.policy.action(ev, macs)
            if action is not None:
                self.applied.append((ev, action, await self._apply(action)))
            self.handled += 1

    async def _apply(self, action: Action) -> str | None:
        """The controller told; what it said against it (e.g. nothing to cancel), if
        anything."""
        try:
            if isinstance(action, Announce):
                await self.controller.announce(action.vm, action.hypervisor, "hypervisor")
                log.info("libvirt: %s coming in at %s: announced", action.vm,
                         action.hypervisor)
            elif isinstance(action, SwitchOver):
                await self.controller.switch_over(action.vm)
                log.info("libvirt: %s paused at its source: switched over", action.vm)
            else:
                await self.controller.cancel(action.vm)
                log.info("libvirt: the migration of %s failed: cancelled", action.vm)
        except MobilityError as exc:
            log.warning("libvirt: %s of %s: %s", type(action).__name__.lower(), action.vm,
                        exc)
            return str(exc)
        return None

    # ---- a migration libvirt performs ----

    async def migrate(self, vm: str, to: str, cause: str = "operator") -> LibvirtMigration:
        """Ready the network at `to` (an announced migration), then have libvirt live-
        migrate the VM's domain there; on failure the announcement is cancelled and the
        VM stays where it was. Nothing changes when the VM, or either hypervisor, is not
        one libvirt reaches."""
        host = self.controller.find(vm)
        src = self.controller.hypervisor_of(vm)
        if to not in self.controller.topo.hypervisors:
            raise HostError(f"no hypervisor {to!r} (hypervisors: "
                            f"{', '.join(sorted(self.controller.topo.hypervisors))})")
        for name in (src, to):
            if name not in self.monitors:
                raise HypervisorError(f"{name or vm + 's hypervisor'} is not reached through "
                                      f"libvirt (ctrl serve --libvirt {name or 'HV'}=URI)")
        assert src is not None
        mac = int_to_mac(host.mac)
        await self.controller.announce(vm, to, cause)
        try:
            domain, stats = await asyncio.to_thread(self._migrate, vm, mac, src, to)
        except BaseException:
            with contextlib.suppress(HostError):
                await self.controller.cancel(vm)
            raise
        return LibvirtMigration(vm, src, to, domain, _int(stats.get("downtime")),
                                _int(stats.get("time_elapsed")))

    def _migrate(self, vm: str, mac: str, src: str, dst: str) -> tuple[str, dict[str, Any]]:
        """On a worker thread: libvirt's live migration of the domain, and its job stats."""
        lv = load_libvirt()
        source, dest = self.monitors[src].conn, self.monitors[dst].conn
        dom = _find_domain(source, vm, mac)
        if dom is None:
            raise HypervisorError(f"{src}'s libvirt has no domain {vm!r} nor one with MAC "
                                  f"{mac}")
        params: dict[str, object] = {}
        if dst in self.migrate_uris:
            params[lv.VIR_MIGRATE_PARAM_URI] = self.migrate_uris[dst]
        name = str(dom.name())
        log.info("libvirt: migrating %s (domain %s) %s -> %s", vm, name, src, dst)
        try:
            moved = dom.migrate3(dest, params, lv.VIR_MIGRATE_LIVE)
            stats = moved.jobStats(lv.VIR_DOMAIN_JOB_STATS_COMPLETED)
        except lv.libvirtError as exc:
            raise HypervisorError(f"libvirt did not migrate {vm} (domain {name}) from {src} "
                                  f"to {dst}: {exc}; it stays at {src}") from exc
        return name, dict(stats)


def _find_domain(conn: Any, vm: str, mac: str) -> Any:
    """The domain called `vm`, else the one with a NIC of MAC `mac`, else None."""
    lv = load_libvirt()
    try:
        return conn.lookupByName(vm)
    except lv.libvirtError:
        pass
    for dom in conn.listAllDomains():
        if mac in domain_macs(dom.XMLDesc(0)):
            return dom
    return None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
