"""libvirtd with its QEMU driver (TCG), run here as private session daemons: a domain of
the project's kernel and initramfs reports its lifecycle, and a live migration between
two daemons (one per hypervisor, over a unix socket) gives the typed migration events
at both ends; a migration whose destination dies gives FAILED and leaves the domain
at its source. Needs root (to start libvirtd as another user), libvirt-python,
libvirt-daemon and QEMU; skipped with the reason where any is missing."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from ctrl.vm.domain import domain_xml
from ctrl.vm.image import GuestImage
from ctrl.vm.libvirt_events import EventLoop, Lifecycle, LifecycleMonitor, MigrationKind
from ctrl.vm.libvirtd import SessionLibvirtd
from ctrl.vm.qemu import QEMU, GuestSpec
from tests.vm import vmlab
from tests.vm.guests import _skip_reason, wait_console
from tests.vm.libvirt_cases import ROUND_TRIP, Seen, round_trip

K = MigrationKind




pytestmark = [
    pytest.mark.root,
    pytest.mark.qemu,
    pytest.mark.libvirt,
    pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason())),
]

SPEC = GuestSpec("lv-vm1", "52:54:00:98:00:0b", "10.98.0.11")


@pytest.fixture(scope="module")
def image() -> GuestImage:
    return vmlab.guest_image()


def boot(conn: Any, image: GuestImage, home: Path) -> Any:
    xml = domain_xml(SPEC, image, shutil.which(QEMU) or QEMU, home / "console.log")
    return conn.createXML(xml, 0)




def in_order(want: list[Lifecycle], got: list[int]) -> bool:
    """`want` is a subsequence of `got`."""
    rest = iter(got)
    return all(any(g == w for g in rest) for w in want)


def test_a_domain_of_the_project_s_image_reports_its_lifecycle(
        image: GuestImage, daemons: tuple[SessionLibvirtd, SessionLibvirtd]) -> None:
    a, _ = daemons
    seen = Seen()
    with EventLoop() as loop, LifecycleMonitor(loop, a.uri, "hv-a", seen.move,
                                               seen.event) as mon:
        xml = domain_xml(SPEC, image, shutil.which(QEMU) or QEMU, a.home / "console.log")
        booted: list[bool] = []
        round_trip(mon.conn.defineXML(xml),
                   lambda: booted.append(wait_console(a.home / "console.log")))
        assert booted == [True], "the guest's /init never said ready"
        # QEMU's driver also says RESUMED as the vCPUs first run: ROUND_TRIP in this order.
        assert seen.wait(lambda: in_order(ROUND_TRIP, [e.event for e in seen.raw]),
                         timeout=20), \
            [e.describe() for e in seen.raw]
    assert seen.moves == []


def test_a_live_migration_between_two_libvirtds_gives_the_typed_events(
        image: GuestImage, daemons: tuple[SessionLibvirtd, SessionLibvirtd]) -> None:
    import libvirt
    a, b = daemons
    seen = Seen()
    with EventLoop() as loop, \
            LifecycleMonitor(loop, a.uri, "hv-a", seen.move, seen.event) as ma, \
            LifecycleMonitor(loop, b.uri, "hv-b", seen.move, seen.event) as mb:
        dom = boot(ma.conn, image, a.home)
        assert wait_console(a.home / "console.log")
        moved = dom.migrate3(mb.conn, {libvirt.VIR_MIGRATE_PARAM_URI:
                                       f"unix://{b.home}/migrate.sock"},
                             libvirt.VIR_MIGRATE_LIVE)
        assert moved.isActive()
        assert [d.name() for d in ma.conn.listAllDomains()] == []   # it was transient
        stats = moved.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
        print(f"libvirt: downtime {stats.get('downtime')} ms, "
              f"total {stats.get('time_elapsed')} ms")
        assert seen.wait(lambda: {(m.kind, m.hypervisor) for m in seen.moves} >= {
            (K.FINISHED, "hv-a"), (K.RESUMED, "hv-b")}, timeout=30), seen.moves
        moved.destroy()
    at_a = [m.kind for m in seen.moves if m.hypervisor == "hv-a"]
    at_b = [m.kind for m in seen.moves if m.hypervisor == "hv-b"]
    assert at_a == [K.STARTED, K.PAUSED, K.FINISHED]
    assert at_b == [K.INCOMING, K.RESUMED]
    assert {m.side for m in seen.moves if m.hypervisor == "hv-a"} == {"source"}
    assert {m.domain for m in seen.moves} == {SPEC.name}
    # The destination hears of it before any memory is copied: the cue to announce.
    assert seen.moves.index(next(m for m in seen.moves if m.kind == K.INCOMING)) < \
        seen.moves.index(next(m for m in seen.moves if m.kind == K.STARTED))


def test_a_migration_whose_destination_dies_fails_and_the_domain_stays(
        image: GuestImage, daemons: tuple[SessionLibvirtd, SessionLibvirtd]) -> None:
    import libvirt
    a, b = daemons
    seen = Seen()
    errors: list[Exception] = []
    with EventLoop() as loop, \
            LifecycleMonitor(loop, a.uri, "hv-a", seen.move, seen.event) as ma, \
            LifecycleMonitor(loop, b.uri, "hv-b", seen.move, seen.event) as mb:
        dom = boot(ma.conn, image, a.home)
        assert wait_console(a.home / "console.log")

        def move() -> None:
            try:
                dom.migrate3(mb.conn, {libvirt.VIR_MIGRATE_PARAM_URI:
                                       f"unix://{b.home}/migrate.sock",
                                       libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: 1},   # MiB/s
                             libvirt.VIR_MIGRATE_LIVE)
            except libvirt.libvirtError as exc:
                errors.append(exc)

        worker = threading.Thread(target=move, name="migrate")
        worker.start()
        assert seen.wait(lambda: any(m.kind == K.INCOMING for m in seen.moves), timeout=30)
        assert seen.wait(lambda: any(m.kind == K.STARTED for m in seen.moves), timeout=30)
        mb.conn.lookupByName(SPEC.name).destroy()
        worker.join(60)
        assert not worker.is_alive() and len(errors) == 1
        assert seen.wait(lambda: any(m.kind == K.FAILED for m in seen.moves), timeout=10)
        assert dom.isActive() and dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        dom.destroy()
    failed = [m for m in seen.moves if m.kind == K.FAILED]
    assert [(m.hypervisor, m.side) for m in failed] == [("hv-b", "destination")]
    assert not [e for e in seen.raw if e.hypervisor == "hv-a" and e.event in (
        Lifecycle.SUSPENDED, Lifecycle.RESUMED) and e.detail]   # the source never paused
    assert not any(m.kind in (K.RESUMED, K.FINISHED) for m in seen.moves)
