"""ctrl.vm.libvirt_events: raw events -> migration events (pure), and the event loop on
libvirt's test driver (test:///default), where domains are defined, started, suspended,
resumed and destroyed in memory."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from ctrl.vm.errors import VmError
from ctrl.vm.libvirt_events import (
    DomainEvent,
    EventLoop,
    Lifecycle,
    LifecycleMonitor,
    MigrationKind,
    MigrationTracker,
)
from tests.vm.libvirt_cases import ROUND_TRIP, Seen, round_trip

K = MigrationKind
U = "6f1d7a7e-0000-4000-8000-000000000001"


def lc(hv: str, event: Lifecycle, detail: int = 0) -> DomainEvent:
    return DomainEvent(hv, "vm1", U, int(event), detail)


def it(hv: str, n: int) -> DomainEvent:
    return DomainEvent(hv, "vm1", U, iteration=n)


def kinds(tracker: MigrationTracker, events: list[DomainEvent]) -> list[tuple[K, str]]:
    out = []
    for ev in events:
        moved = tracker.feed(ev)
        if moved is not None:
            out.append((moved.kind, moved.side))
    return out


def test_a_live_migration_seen_from_both_ends() -> None:
    # As libvirt's QEMU driver reports one (seen here between two libvirtds).
    src = [it("a", 1), it("a", 2), lc("a", Lifecycle.SUSPENDED, 1), it("a", 3),
           lc("a", Lifecycle.STOPPED, 3)]
    dst = [lc("b", Lifecycle.STARTED, 1), lc("b", Lifecycle.RESUMED, 1)]
    assert kinds(MigrationTracker(), src) == [(K.STARTED, "source"), (K.PAUSED, "source"),
                                              (K.FINISHED, "source")]
    assert kinds(MigrationTracker(), dst) == [(K.INCOMING, "destination"),
                                              (K.RESUMED, "destination")]


def test_failures_at_either_end() -> None:
    # The destination dies during pre-copy: only it says so.
    assert kinds(MigrationTracker(), [lc("b", Lifecycle.STARTED, 1),
                                      lc("b", Lifecycle.SHUTDOWN, 2),
                                      lc("b", Lifecycle.STOPPED, 1)]) == \
        [(K.INCOMING, "destination"), (K.FAILED, "destination")]
    # The source was paused for the last copy and resumes: the migration was given up.
    assert kinds(MigrationTracker(), [it("a", 1), lc("a", Lifecycle.SUSPENDED, 1),
                                      lc("a", Lifecycle.RESUMED, 1)]) == \
        [(K.STARTED, "source"), (K.PAUSED, "source"), (K.FAILED, "source")]


def test_ordinary_lifecycles_are_no_migration() -> None:
    t = MigrationTracker()
    assert kinds(t, [lc("a", Lifecycle.DEFINED), lc("a", Lifecycle.STARTED, 0),
                     lc("a", Lifecycle.SUSPENDED, 0), lc("a", Lifecycle.RESUMED, 0),
                     lc("a", Lifecycle.RESUMED, 1), lc("a", Lifecycle.STOPPED, 1),
                     lc("a", Lifecycle.UNDEFINED)]) == []
    assert t.incoming == set() and t.outgoing == set()


def test_a_domain_stopped_at_its_source_after_a_failed_pre_copy_is_no_event() -> None:
    t = MigrationTracker()
    assert kinds(t, [it("a", 1), lc("a", Lifecycle.STOPPED, 1)]) == [(K.STARTED, "source")]
    assert t.outgoing == set()


def test_a_second_migration_of_the_same_domain_starts_afresh() -> None:
    t = MigrationTracker()
    first = [it("a", 1), it("a", 2)]   # its destination failed; the source said nothing
    assert kinds(t, first) == [(K.STARTED, "source")]
    assert kinds(t, [it("a", 1), lc("a", Lifecycle.STOPPED, 3)]) == \
        [(K.STARTED, "source"), (K.FINISHED, "source")]


def test_event_codes_are_libvirts() -> None:
    libvirt = pytest.importorskip("libvirt")
    from ctrl.vm import libvirt_events as le
    for member in Lifecycle:
        assert getattr(libvirt, f"VIR_DOMAIN_EVENT_{member.name}") == member.value
    assert (le.STARTED_MIGRATED, le.SUSPENDED_MIGRATED, le.SUSPENDED_POSTCOPY,
            le.RESUMED_MIGRATED, le.RESUMED_POSTCOPY, le.STOPPED_MIGRATED) == (
        libvirt.VIR_DOMAIN_EVENT_STARTED_MIGRATED, libvirt.VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED,
        libvirt.VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY, libvirt.VIR_DOMAIN_EVENT_RESUMED_MIGRATED,
        libvirt.VIR_DOMAIN_EVENT_RESUMED_POSTCOPY, libvirt.VIR_DOMAIN_EVENT_STOPPED_MIGRATED)
    assert le.EVENT_ID_LIFECYCLE == libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE
    assert le.EVENT_ID_MIGRATION_ITERATION == libvirt.VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION




@pytest.fixture
def loop() -> Iterator[EventLoop]:
    pytest.importorskip("libvirt", reason="libvirt-python is not installed")
    with EventLoop() as lp:
        yield lp
    assert not lp.running






TEST_DOMAIN = """<domain type='test'><name>{name}</name><uuid>{uuid}</uuid>
<memory unit='MiB'>256</memory><os><type>hvm</type></os></domain>"""


def test_the_test_driver_s_lifecycle_events_arrive_in_order(loop: EventLoop) -> None:
    seen = Seen()
    name = f"vm-events-{uuid.uuid4().hex[:8]}"
    with LifecycleMonitor(loop, "test:///default", "hv-test", seen.move, seen.event) as mon:
        dom = mon.conn.defineXML(TEST_DOMAIN.format(name=name, uuid=uuid.uuid4()))
        round_trip(dom)
        assert seen.wait(lambda: len([e for e in seen.raw if e.domain == name])
                         >= len(ROUND_TRIP))
    mine = [e for e in seen.raw if e.domain == name]
    assert [e.event for e in mine] == ROUND_TRIP
    assert {e.hypervisor for e in mine} == {"hv-test"}
    assert mine[0].uuid == dom.UUIDString()
    assert seen.moves == []   # nothing here migrated


def test_a_failing_callback_does_not_stop_the_loop(loop: EventLoop) -> None:
    seen = Seen()
    calls: list[DomainEvent] = []

    def broken(ev: DomainEvent) -> None:
        calls.append(ev)
        raise RuntimeError("a bug in a callback")

    name = f"vm-events-{uuid.uuid4().hex[:8]}"
    with LifecycleMonitor(loop, "test:///default", "hv-test", seen.move, broken) as mon:
        dom = mon.conn.defineXML(TEST_DOMAIN.format(name=name, uuid=uuid.uuid4()))
        dom.undefine()
        deadline = time.monotonic() + 10
        while len([c for c in calls if c.domain == name]) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert [c.event for c in calls if c.domain == name] == [Lifecycle.DEFINED,
                                                            Lifecycle.UNDEFINED]
    assert loop.running


def test_a_monitor_needs_a_running_loop_and_a_reachable_libvirt(loop: EventLoop) -> None:
    stopped = EventLoop()
    with pytest.raises(VmError, match="start the EventLoop"):
        LifecycleMonitor(stopped, "test:///default", "hv", lambda _: None).open()
    with pytest.raises(VmError, match="cannot connect to libvirt"):
        LifecycleMonitor(loop, "qemu+unix:///session?socket=/nonexistent/sock", "hv",
                         lambda _: None).open()
