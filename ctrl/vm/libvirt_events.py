"""libvirt's domain events as typed migration events, for the controller to announce a
migration before the VM's RARP (an announced migration needs no reaction at all).

    with EventLoop() as loop, LifecycleMonitor(loop, "qemu:///system", "hv1", on_move):
        ...

One LifecycleMonitor per hypervisor (one libvirt connection each). libvirt reports
lifecycle events (VIR_DOMAIN_EVENT_ID_LIFECYCLE: STARTED, SUSPENDED, RESUMED,
STOPPED ... with a detail) and, from the QEMU driver, the passes of a migration
(VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION). A MigrationTracker per hypervisor
turns them into MigrationEvents:

| at the  | libvirt says                                 | event    |
|---------|----------------------------------------------|----------|
| target  | STARTED / MIGRATED (an incoming domain)      | INCOMING |
| source  | migration iteration 1 (pre-copy begins)      | STARTED  |
| source  | SUSPENDED / MIGRATED or POSTCOPY             | PAUSED   |
| target  | RESUMED / MIGRATED or POSTCOPY, incoming     | RESUMED  |
| source  | STOPPED / MIGRATED                           | FINISHED |
| source  | RESUMED / MIGRATED after PAUSED              | FAILED   |
| target  | STOPPED / CRASHED while incoming             | FAILED   |

A source whose migration fails during pre-copy keeps running and libvirt says
nothing there: only its destination's FAILED tells.

INCOMING comes before any memory is copied and names the destination: that is the
controller's cue to announce (`Controller.announce(vm, hypervisor)`); FAILED is its
cue to cancel. The tracker is pure; EventLoop and LifecycleMonitor are the thin I/O
around it. Callbacks run on the event loop's thread (`threadsafe` hands them to an
asyncio loop).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ctrl.vm.errors import VmError

log = logging.getLogger(__name__)


class Lifecycle(enum.IntEnum):
    """virDomainEventType (VIR_DOMAIN_EVENT_*)."""

    DEFINED = 0
    UNDEFINED = 1
    STARTED = 2
    SUSPENDED = 3
    RESUMED = 4
    STOPPED = 5
    SHUTDOWN = 6
    PMSUSPENDED = 7
    CRASHED = 8


# The details that concern migration (virDomainEvent*DetailType).
STARTED_MIGRATED = 1     # VIR_DOMAIN_EVENT_STARTED_MIGRATED: incoming migration
SUSPENDED_MIGRATED = 1   # VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED: paused for the last copy
SUSPENDED_POSTCOPY = 7   # VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY
RESUMED_MIGRATED = 1     # VIR_DOMAIN_EVENT_RESUMED_MIGRATED: resumed after migration
RESUMED_POSTCOPY = 3     # VIR_DOMAIN_EVENT_RESUMED_POSTCOPY
STOPPED_MIGRATED = 3     # VIR_DOMAIN_EVENT_STOPPED_MIGRATED: migrated away
EVENT_ID_LIFECYCLE = 0              # VIR_DOMAIN_EVENT_ID_LIFECYCLE
EVENT_ID_MIGRATION_ITERATION = 20   # VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """One event as libvirt gave it: a lifecycle event (event, detail) or, with
    `iteration` set, a migration pass."""

    hypervisor: str
    domain: str
    uuid: str
    event: int = -1
    detail: int = 0
    iteration: int = 0

    def describe(self) -> str:
        if self.iteration:
            return f"{self.domain}@{self.hypervisor}: migration pass {self.iteration}"
        try:
            name = Lifecycle(self.event).name
        except ValueError:
            name = str(self.event)
        return f"{self.domain}@{self.hypervisor}: {name}/{self.detail}"


class MigrationKind(enum.Enum):
    INCOMING = "incoming"   # destination: the domain is arriving, nothing copied yet
    STARTED = "started"     # source: pre-copy began
    PAUSED = "paused"       # source: stopped for the last copy
    RESUMED = "resumed"     # destination: the domain runs here now
    FINISHED = "finished"   # source: the domain has left
    FAILED = "failed"       # either side: it will not move; it runs on at its source


@dataclass(frozen=True, slots=True)
class MigrationEvent:
    kind: MigrationKind
    hypervisor: str   # where libvirt saw it (the source or the destination: see `side`)
    domain: str
    uuid: str
    side: str         # "source" or "destination"


@dataclass(slots=True)
class MigrationTracker:
    """One hypervisor's domains in flight, from its raw events (pure: no libvirt)."""

    incoming: set[str] = field(default_factory=set)   # uuids arriving here
    outgoing: set[str] = field(default_factory=set)   # uuids leaving from here

    def feed(self, ev: DomainEvent) -> MigrationEvent | None:
        kind, side = self._classify(ev)
        if kind is None:
            return None
        return MigrationEvent(kind, ev.hypervisor, ev.domain, ev.uuid, side)

    def _classify(self, ev: DomainEvent) -> tuple[MigrationKind | None, str]:
        u = ev.uuid
        if ev.iteration:
            first = u not in self.outgoing or ev.iteration == 1
            self.outgoing.add(u)
            return (MigrationKind.STARTED if first else None), "source"
        if ev.event == Lifecycle.STARTED and ev.detail == STARTED_MIGRATED:
            self.incoming.add(u)
            return MigrationKind.INCOMING, "destination"
        if ev.event == Lifecycle.SUSPENDED and ev.detail in (SUSPENDED_MIGRATED,
                                                             SUSPENDED_POSTCOPY):
            if u in self.incoming:
                return None, "destination"
            self.outgoing.add(u)
            return MigrationKind.PAUSED, "source"
        if ev.event == Lifecycle.RESUMED and ev.detail in (RESUMED_MIGRATED, RESUMED_POSTCOPY):
            if u in self.incoming:
                self.incoming.discard(u)
                return MigrationKind.RESUMED, "destination"
            if u in self.outgoing:   # the source runs again: the migration was given up
                self.outgoing.discard(u)
                return MigrationKind.FAILED, "source"
            return None, ""
        if ev.event == Lifecycle.STOPPED and ev.detail == STOPPED_MIGRATED:
            self.outgoing.discard(u)
            return MigrationKind.FINISHED, "source"
        if ev.event in (Lifecycle.STOPPED, Lifecycle.CRASHED):
            # A source whose pre-copy failed is never told: its destination says FAILED.
            self.outgoing.discard(u)
            if u in self.incoming:
                self.incoming.discard(u)
                return MigrationKind.FAILED, "destination"
        return None, ""


def load_libvirt() -> Any:
    """The libvirt module (libvirt-python), or a clear error."""
    try:
        import libvirt
    except ImportError as exc:
        raise VmError("libvirt-python is not installed (pip install libvirt-python; it "
                      "builds against Debian's libvirt-dev and pkg-config)") from exc
    return libvirt


class EventLoop:
    """libvirt's default event loop (virEventRegisterDefaultImpl), run by one thread.

    libvirt keeps one event loop per process: make one EventLoop, before opening
    the connections whose events it is to deliver, and stop it after closing them.
    A timer wakes it every `tick` seconds so that `stop` is seen.
    """

    def __init__(self, tick: float = 0.1) -> None:
        self.tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._timer: int | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> EventLoop:
        lv = load_libvirt()
        lv.virEventRegisterDefaultImpl()
        lv.registerErrorHandler(_log_libvirt_error, None)
        self._timer = int(lv.virEventAddTimeout(int(self.tick * 1000), _no_op, None))
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(lv,), name="libvirt-events",
                                        daemon=True)
        self._thread.start()
        return self

    def _run(self, lv: Any) -> None:
        while not self._stop.is_set():
            if lv.virEventRunDefaultImpl() < 0:
                log.error("libvirt's event loop failed; no more domain events")
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5 + self.tick)
            self._thread = None
        if self._timer is not None:
            load_libvirt().virEventRemoveTimeout(self._timer)
            self._timer = None

    def __enter__(self) -> EventLoop:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _no_op(*_: object) -> None:
    pass


def _log_libvirt_error(_: object, err: object) -> None:
    """libvirt's errors go to this log, not to stderr (each call raises them too)."""
    log.debug("libvirt: %s", err[2] if isinstance(err, tuple) and len(err) > 2 else err)


MigrationCallback = Callable[[MigrationEvent], None]
EventCallback = Callable[[DomainEvent], None]


class LifecycleMonitor:
    """The domain events of one hypervisor's libvirt (`uri`), as MigrationEvents to
    `on_migration` and, raw, to `on_event`; both are called on the event loop's thread."""

    def __init__(self, loop: EventLoop, uri: str, hypervisor: str,
                 on_migration: MigrationCallback, on_event: EventCallback | None = None) -> None:
        self.loop = loop
        self.uri = uri
        self.hypervisor = hypervisor
        self.on_migration = on_migration
        self.on_event = on_event
        self.tracker = MigrationTracker()
        self.conn: Any = None
        self._callbacks: list[int] = []

    def open(self) -> LifecycleMonitor:
        if not self.loop.running:
            raise VmError("start the EventLoop before a LifecycleMonitor")
        lv = load_libvirt()
        try:
            self.conn = lv.open(self.uri)
        except lv.libvirtError as exc:
            raise VmError(f"{self.hypervisor}: cannot connect to libvirt at {self.uri}: "
                          f"{exc}") from exc
        try:
            self._callbacks.append(self.conn.domainEventRegisterAny(
                None, lv.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._lifecycle, None))
            try:
                self._callbacks.append(self.conn.domainEventRegisterAny(
                    None, lv.VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION, self._iteration, None))
            except lv.libvirtError as exc:   # drivers without migration (test:///)
                log.debug("%s: no migration iteration events: %s", self.hypervisor, exc)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self.conn is None:
            return
        for cid in self._callbacks:
            try:
                self.conn.domainEventDeregisterAny(cid)
            except Exception as exc:
                log.debug("%s: deregistering a callback: %s", self.hypervisor, exc)
        self._callbacks.clear()
        try:
            self.conn.close()
        except Exception as exc:
            log.debug("%s: closing the connection: %s", self.hypervisor, exc)
        self.conn = None

    def __enter__(self) -> LifecycleMonitor:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _lifecycle(self, _conn: object, dom: Any, event: int, detail: int,
                   _opaque: object) -> None:
        self._deliver(DomainEvent(self.hypervisor, str(dom.name()), str(dom.UUIDString()),
                                  int(event), int(detail)))

    def _iteration(self, _conn: object, dom: Any, iteration: int, _opaque: object) -> None:
        self._deliver(DomainEvent(self.hypervisor, str(dom.name()), str(dom.UUIDString()),
                                  iteration=int(iteration)))

    def _deliver(self, ev: DomainEvent) -> None:
        """Never lets a callback's exception into libvirt's loop (it would end it)."""
        log.debug("%s", ev.describe())
        try:
            if self.on_event is not None:
                self.on_event(ev)
            moved = self.tracker.feed(ev)
            if moved is not None:
                log.info("%s: migration %s (%s side) of %s", self.hypervisor,
                         moved.kind.value, moved.side, moved.domain)
                self.on_migration(moved)
        except Exception:
            log.exception("%s: a domain event callback failed on %s", self.hypervisor,
                          ev.describe())


def threadsafe(loop: asyncio.AbstractEventLoop,
               callback: Callable[[MigrationEvent], object]) -> MigrationCallback:
    """A callback for LifecycleMonitor that runs `callback` on asyncio `loop`'s thread."""
    def hand_over(ev: MigrationEvent) -> None:
        loop.call_soon_threadsafe(callback, ev)
    return hand_over
