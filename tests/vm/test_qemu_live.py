"""Real QEMU guests (root): one boots behind a bridge and its endpoint answers UDP; it
live-migrates to a QEMU in a second namespace on the same L2 segment with a TCP
connection open, which survives, and QEMU announces it there with RARP; a migration
whose destination dies leaves it running at its source.

Correctness only: the figures (boot time, QEMU's downtime) are printed, not asserted.
"""

from __future__ import annotations

import os
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctrl.p4rt.values import to_int
from ctrl.platform import netns
from ctrl.punt.frames import parse_arp
from ctrl.vm.errors import MigrationError
from ctrl.vm.image import GuestImage
from ctrl.vm.migration import migrate, query, start_migration, wait_migration
from ctrl.vm.qemu import Guest, GuestSpec, Placement, probe_accel
from tests.vm import vmlab

pytestmark = [
    pytest.mark.root,
    pytest.mark.qemu,
    pytest.mark.skipif(vmlab.skip_reason() is not None, reason=str(vmlab.skip_reason())),
]

SPEC = GuestSpec("vm1", vmlab.GUEST_MAC, vmlab.GUEST_IP, port=7)


@pytest.fixture(scope="module")
def image() -> GuestImage:
    return vmlab.guest_image()


@pytest.fixture(scope="module")
def accel(image: GuestImage, tmp_path_factory: pytest.TempPathFactory) -> str:
    forced = vmlab.accel_from_env()
    if forced:
        return forced
    with vmlab.segment(tmp_path_factory.mktemp("probe"), f"vmp{os.getpid() % 10000}") as seg:
        found = probe_accel(image, seg.workdir, seg.hv_a, vmlab.BRIDGE)
    print(f"accelerator: {found}")
    return found


@pytest.fixture
def seg(tmp_path: Path) -> Iterator[vmlab.Segment]:
    with vmlab.segment(tmp_path, f"vmq{os.getpid() % 10000}") as s:
        yield s


def start(image: GuestImage, accel: str, seg: vmlab.Segment, ns: str, tap: str,
          incoming: bool = False) -> Guest:
    return Guest.start(image, SPEC, Placement(ns, vmlab.BRIDGE, tap, seg.workdir),
                       accel=accel, incoming=incoming)


def rarps_for(sock: socket.socket, mac: str, timeout: float) -> int:
    """How many RARP announcements of `mac` arrive on `sock` within `timeout`."""
    seen = 0
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            break
        arp = parse_arp(netns.recv_frame(sock))
        if arp is not None and arp.is_rarp and arp.sha == to_int(mac):
            seen += 1
    return seen


def test_guest_boots_behind_a_bridge_and_echoes_udp(image: GuestImage, accel: str,
                                                     seg: vmlab.Segment) -> None:
    with start(image, accel, seg, seg.hv_a, "vm1a") as guest:
        booted = guest.wait_booted()
        print(f"booted in {booted:.2f} s ({accel})")
        assert guest.status() == "running"
        assert netns.link_exists("vm1a", seg.hv_a)
        assert vmlab.udp_echo(seg.client, SPEC.ip, SPEC.port)
    assert not netns.link_exists("vm1a", seg.hv_a)   # the tap goes with the guest


def test_live_migration_keeps_a_tcp_connection_and_announces_the_guest(
        image: GuestImage, accel: str, seg: vmlab.Segment) -> None:
    with start(image, accel, seg, seg.hv_a, "vm1a") as src, \
            start(image, accel, seg, seg.hv_b, "vm1b", incoming=True) as dst:
        src.wait_booted()
        assert dst.status() == "inmigrate"
        assert vmlab.udp_echo(seg.client, SPEC.ip, SPEC.port)
        conn = vmlab.client_socket(seg.client, socket.SOCK_STREAM)
        conn.settimeout(20)
        with conn, netns.raw_socket("vm1b", seg.hv_b) as capture:
            conn.connect((SPEC.ip, SPEC.port))
            assert vmlab.tcp_echo(conn, b"before the move") == b"before the move"
            stats = migrate(src, dst)
            print(f"QEMU: downtime {stats.downtime_ms} ms, the guest paused "
                  f"{stats.pause_ms} ms, total {stats.total_ms} ms, {stats.transferred} bytes")
            assert stats.status == "completed"
            assert stats.downtime_ms is not None and stats.total_ms is not None
            assert stats.pause_ms is not None and stats.pause_ms > 0   # STOP, then RESUME
            assert dst.status() == "running"
            assert src.status() == "postmigrate"
            assert rarps_for(capture, SPEC.mac, timeout=3.0) >= 1
            src.stop()   # the guest now lives only at hv_b
            assert vmlab.tcp_echo(conn, b"after the move") == b"after the move"
        assert vmlab.udp_echo(seg.client, SPEC.ip, SPEC.port)


def test_failed_migration_leaves_the_guest_running_at_its_source(
        image: GuestImage, accel: str, seg: vmlab.Segment) -> None:
    with start(image, accel, seg, seg.hv_a, "vm1a") as src, \
            start(image, accel, seg, seg.hv_b, "vm1b", incoming=True) as dst:
        src.wait_booted()
        start_migration(src, dst, max_bandwidth=100_000)   # slow enough to cut it off
        deadline = time.monotonic() + 30
        while query(src).status != "active" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert query(src).status == "active"
        dst.kill()
        with pytest.raises(MigrationError, match="runs on at"):
            wait_migration(src, dst)
        assert src.status() == "running"
        assert vmlab.udp_echo(seg.client, SPEC.ip, SPEC.port)


def test_migration_to_a_guest_not_waiting_for_one_is_refused(
        image: GuestImage, accel: str, seg: vmlab.Segment) -> None:
    with start(image, accel, seg, seg.hv_a, "vm1a") as src, \
            start(image, accel, seg, seg.hv_b, "vm1b") as other:
        with pytest.raises(MigrationError, match="waits for no migration"):
            migrate(src, other)
        assert src.status() == "running"
