"""Live migration of a guest between two QEMUs over a unix socket (which reaches across
network namespaces): QMP `migrate` on the source to the destination's `-incoming
unix:...`, then `query-migrate` until it completes.

QEMU reports its own figures: `downtime` (ms the guest was stopped for the last copy
and the switch-over) and `total-time` (ms from `migrate` to completion). After it
completes, the destination runs the guest and announces it (a RARP for its MAC,
QEMU's self-announce); the source is left in 'postmigrate' for its owner to stop.

A migration that fails (the destination died, the link broke, it took too long)
leaves the guest running at its source: QEMU resumes it there itself, and where it
did not (a destination that never came up after completion), `cont` does.

QEMU's `downtime` is the source's view: from stopping the guest to having sent the
last of it. The guest's whole pause also takes in the destination loading that and
starting it again: the STOP event of the source and the RESUME event of the
destination (QMP events, stamped by QEMU with the host's clock) give it.

Either end is anything with a QMP session, a spec and a placement (`Endpoint`): a
`ctrl.vm.qemu.Guest` this process started, or a lab's guest found again by its PID.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from ctrl.vm.errors import MigrationError, QmpError
from ctrl.vm.qemu import GuestSpec, Placement
from ctrl.vm.qmp import Qmp

log = logging.getLogger(__name__)

DONE = "completed"
FAILED = ("failed", "cancelled")
POLL = 0.01   # seconds between query-migrate calls


class Endpoint(Protocol):
    """One end of a migration: a QEMU with a QMP session."""

    @property
    def spec(self) -> GuestSpec: ...
    @property
    def place(self) -> Placement: ...
    @property
    def qmp(self) -> Qmp: ...
    @property
    def incoming(self) -> str | None: ...   # the URI it waits for a migration on
    def running(self) -> bool: ...
    def status(self) -> str: ...


@dataclass(frozen=True, slots=True)
class MigrationStats:
    """What `query-migrate` says about one migration (times in ms, as QEMU gives them)."""

    status: str
    total_ms: int | None = None
    downtime_ms: int | None = None
    setup_ms: int | None = None
    transferred: int | None = None   # bytes of RAM sent
    error: str = ""
    stopped_at: float | None = None  # the source's STOP event, seconds since the epoch
    resumed_at: float | None = None  # the destination's RESUME event

    @property
    def finished(self) -> bool:
        return self.status == DONE or self.status in FAILED

    @property
    def pause_ms(self) -> float | None:
        """The guest's whole pause, STOP at the source to RESUME at the destination."""
        if self.stopped_at is None or self.resumed_at is None:
            return None
        return (self.resumed_at - self.stopped_at) * 1e3


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def stats_of(info: Mapping[str, object]) -> MigrationStats:
    """The MigrationStats of a `query-migrate` reply ({} before any migration)."""
    ram = info.get("ram")
    transferred = _int(ram.get("transferred")) if isinstance(ram, dict) else None
    return MigrationStats(str(info.get("status", "none")), _int(info.get("total-time")),
                          _int(info.get("downtime")), _int(info.get("setup-time")),
                          transferred, str(info.get("error-desc", "")))


def query(guest: Endpoint) -> MigrationStats:
    got = guest.qmp.execute("query-migrate")
    if not isinstance(got, dict):
        raise MigrationError(f"{guest.spec.name}: odd query-migrate reply {got!r}")
    return stats_of(got)


def start_migration(src: Endpoint, dst: Endpoint, max_bandwidth: int | None = None) -> None:
    """Begin moving `src`'s guest to `dst` (a QEMU started with incoming=True);
    `max_bandwidth` in bytes per second (QEMU's default otherwise)."""
    if dst.incoming is None:
        raise MigrationError(f"{dst.spec.name} at {dst.place.ns} waits for no migration "
                             "(start it with incoming=True)")
    if src.spec.mac.lower() != dst.spec.mac.lower():
        raise MigrationError(f"{src.spec.name} and {dst.spec.name} have different MACs")
    if not dst.running():
        raise MigrationError(f"the destination QEMU at {dst.place.ns} is not running")
    if max_bandwidth is not None:
        src.qmp.execute("migrate-set-parameters", {"max-bandwidth": max_bandwidth})
    src.qmp.take_events()   # the STOP and RESUME events of this migration, none older
    dst.qmp.take_events()
    log.info("%s: migrating %s -> %s", src.spec.name, src.place.ns, dst.place.ns)
    try:
        src.qmp.execute("migrate", {"uri": dst.incoming})
    except QmpError as exc:
        _resume(src)
        raise MigrationError(f"{src.spec.name}: migrate refused ({exc}); the guest runs on "
                             f"at {src.place.ns}") from exc


def wait_migration(src: Endpoint, dst: Endpoint, timeout: float = 120.0,
                   poll: float = POLL) -> MigrationStats:
    """Poll until the migration started by `start_migration` ends; its stats when the
    destination runs the guest, else a MigrationError (the guest runs at the source)."""
    deadline = time.monotonic() + timeout
    stats = query(src)
    while not stats.finished:
        if time.monotonic() > deadline:
            with contextlib.suppress(QmpError):
                src.qmp.execute("migrate_cancel")
            _resume(src)
            raise MigrationError(f"{src.spec.name}: not migrated in {timeout:.0f} s "
                                 f"(status {stats.status}); cancelled, the guest runs on at "
                                 f"{src.place.ns}")
        src.qmp.pump(poll)   # its events (STOP) as they come, not with the next reply
        stats = query(src)
    if stats.status != DONE:
        _resume(src)
        raise MigrationError(f"{src.spec.name}: migration {stats.status}"
                             + (f" ({stats.error})" if stats.error else "")
                             + f"; the guest runs on at {src.place.ns}")
    try:
        _wait_running(dst, deadline)
    except MigrationError as exc:
        _resume(src)
        raise MigrationError(f"{exc}; the guest runs on at {src.place.ns}") from exc
    stops = src.qmp.take_events("STOP")
    resumes = dst.qmp.take_events("RESUME")
    stats = replace(stats, stopped_at=stops[-1].timestamp if stops else None,
                    resumed_at=resumes[-1].timestamp if resumes else None)
    log.info("%s: at %s, downtime %s ms, paused %s ms, total %s ms", src.spec.name,
             dst.place.ns, stats.downtime_ms,
             "?" if stats.pause_ms is None else f"{stats.pause_ms:.1f}", stats.total_ms)
    return stats


def migrate(src: Endpoint, dst: Endpoint, timeout: float = 120.0,
            max_bandwidth: int | None = None) -> MigrationStats:
    """Live-migrate `src`'s guest to `dst` and wait for it: see `wait_migration`."""
    start_migration(src, dst, max_bandwidth)
    return wait_migration(src, dst, timeout)


def abandon(src: Endpoint) -> None:
    """Whatever migration of `src` is under way is cancelled and the guest runs at the
    source again (after an interruption, or an error that was not QEMU's)."""
    with contextlib.suppress(QmpError):
        src.qmp.execute("migrate_cancel")
    _resume(src)


def _wait_running(dst: Endpoint, deadline: float) -> None:
    """The destination runs the guest (QEMU starts it once the last page is in)."""
    while True:
        try:
            status = dst.status() if dst.running() else "gone"
        except QmpError as exc:
            status = f"unreachable ({exc})"
        if status == "running":
            return
        if status not in ("inmigrate", "paused", "postmigrate", "finish-migrate") \
                or time.monotonic() > deadline:
            raise MigrationError(f"the destination at {dst.place.ns} is {status}")
        time.sleep(POLL)


def _resume(src: Endpoint) -> None:
    """The source runs the guest again, whatever state the failure left it in."""
    deadline = time.monotonic() + 10.0
    while True:
        status = src.status()
        if status == "running":
            return
        if status in ("paused", "postmigrate", "finish-migrate"):
            with contextlib.suppress(QmpError):
                src.qmp.execute("cont")
        if time.monotonic() > deadline:
            raise MigrationError(f"{src.spec.name}: the source stays {status} after a "
                                 "failed migration")
        time.sleep(POLL)
