"""QEMU guests live-migrated under traffic: how many migrations corrupt the guest, on
vhost-user ports of an OVS-DPDK bridge against the same guest on taps (issue 19: not fixed;
README, "OVS-DPDK").

One TCG guest (ctrl.vm.qemu) migrates back and forth between two ports of one hypervisor
namespace while a client namespace sends it 500 UDP datagrams/s, which it echoes: first on
two `dpdkvhostuserclient` ports of an OVS-DPDK bridge (the client on an af_packet port of
it, NORMAL forwarding), then on two taps of a Linux bridge. After each migration the guest's
console is read; one that shows ring corruption or a panic ends the series (the guest is
gone). Long (TCG guests, a PMD): it runs only with VM_MOBILITY_VHOST_MIGRATIONS=N (the
migrations of each series). Reported, not asserted.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bench.conftest import RATIOS, Progress
from ctrl.platform import netns
from ctrl.targets.ovs.daemon import OvsDaemons, _tool
from ctrl.targets.ovs.dpdk import DpdkConfig
from ctrl.targets.ovs.ovsdb import Transaction, vsctl
from ctrl.vm import migration
from ctrl.vm.image import GuestImage
from ctrl.vm.qemu import Guest, GuestSpec, Placement
from tests.packet.ovs_target import dpdk_available
from tests.vm import vmlab

ENV = "VM_MOBILITY_VHOST_MIGRATIONS"
RATE = 500.0            # datagrams a second to the guest's echo
SETTLE_S = 1.5          # after a migration, before its console is read
CORRUPT = (b"is not a head", b"Kernel panic", b"BUG:", b"corruption", b"Oops")
GUEST = GuestSpec("vx", "52:54:00:77:00:0a", "10.77.0.10")
CLIENT_IP = "10.77.0.1"
TITLE = "QEMU guests (TCG) live-migrated under 500 datagrams/s: migrations until corruption"


def _skip_reason() -> str | None:
    count = os.environ.get(ENV, "")
    if not count.isdigit() or int(count) < 1:
        return f"long: set {ENV}=N (migrations a series) to run it"
    return vmlab.skip_reason() or dpdk_available()


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))


@dataclass
class Echoes:
    """Datagrams sent to the guest from the client namespace; how many came back."""

    ns: str
    back: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with netns.in_netns(self.ns):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sock:
            sock.setblocking(False)
            while not self.stop.is_set():
                sock.sendto(bytes(64), (GUEST.ip, GUEST.port))
                with contextlib.suppress(BlockingIOError):
                    while sock.recv(2048):
                        self.back += 1
                time.sleep(1 / RATE)


@contextlib.contextmanager
def _namespaces(tag: str) -> Iterator[tuple[str, str]]:
    """A hypervisor and a client namespace, joined by a veth (hv: cl0, client: eth0)."""
    hv, client = f"{tag}hv", f"{tag}cl"
    made: list[str] = []
    try:
        for ns in (hv, client):
            netns.create_netns(ns)
            made.append(ns)
        netns.add_veth("cl0", "eth0", peer_ns=client, ns=hv)
        netns.set_offloads("cl0", hv, tx=False)
        netns.set_offloads("eth0", client, tx=False)
        netns.addr_add("eth0", CLIENT_IP, 24, client)
        yield hv, client
    finally:
        for ns in made:
            netns.remove_netns(ns)


@contextlib.contextmanager
def _ports(kind: str, hv: str, workdir: Path) -> Iterator[list[Placement]]:
    """The guest's two places: vhost-user ports of an OVS-DPDK bridge (`ovs-vsctl add-port
    vxbr P -- set interface P type=dpdkvhostuserclient options:vhost-server-path=SOCK`),
    or taps of a Linux bridge."""
    if kind == "tap":
        netns.add_bridge_in("br0", hv)
        netns.set_master_in("cl0", "br0", hv)
        yield [Placement(hv, "br0", tap, workdir) for tap in ("vxta", "vxtb")]
        return
    dpdk = DpdkConfig()
    daemons = OvsDaemons(workdir / "ovs", hv, dpdk)
    daemons.start()
    try:
        tx = Transaction(daemons)
        tx.add_bridge("vxbr")
        port_kind, options = dpdk.port_options("cl0")
        tx.add_port("vxbr", "cl0", 1, kind=port_kind, options=options)
        tx.commit()
        subprocess.run([_tool("ovs-ofctl"), "-O", "OpenFlow13", "add-flow",
                        f"unix:{daemons.mgmt_socket('vxbr')}", "actions=NORMAL"],
                       check=True, capture_output=True, env=daemons.env)
        places = [Placement(hv, "", port, workdir, vhost=True) for port in ("vhua", "vhub")]
        for n, place in enumerate(places, start=2):
            vsctl(daemons, ["add-port", "vxbr", place.tap],
                  ["set", "interface", place.tap, "type=dpdkvhostuserclient",
                   f"options:vhost-server-path={place.path(GUEST, 'vhost')}",
                   f"ofport_request={n}"])
        yield places
    finally:
        daemons.stop()


def _series(kind: str, image: GuestImage, accel: str, tmp_path: Path, count: int,
            progress: Progress) -> tuple[int, str]:
    """Migrations done, and what the console said after the last if it was corrupt."""
    tag = f"bv{os.getpid() % 10000}"
    guests: list[Guest] = []
    with _namespaces(tag) as (hv, client), _ports(kind, hv, tmp_path / "qemu") as places:
        echoes = Echoes(client)
        sender = threading.Thread(target=echoes.run, daemon=True)
        try:
            guests.append(Guest.start(image, GUEST, places[0], accel=accel))
            guests[0].wait_booted()
            sender.start()
            for n in range(1, count + 1):
                progress.step(f"{kind}: migration", n, count)
                src = guests[-1]
                dst = Guest.start(image, GUEST, places[n % 2], accel=accel, incoming=True)
                guests.append(dst)
                migration.migrate(src, dst)
                src.stop()
                guests.remove(src)
                time.sleep(SETTLE_S)
                console = dst.console()
                if not dst.running() or any(word in console for word in CORRUPT):
                    tail = console.decode(errors="replace").strip().splitlines()[-1:]
                    return n, " / ".join(tail)
            return count, ""
        finally:
            echoes.stop.set()
            for g in guests:
                g.stop()


@pytest.mark.parametrize("kind", ["vhost-user", "tap"])
def test_migrations_under_traffic(benchmark: Any, tmp_path: Path, kind: str,
                                  progress: Progress) -> None:
    image = vmlab.guest_image()
    count = int(os.environ[ENV])
    done, said = benchmark.pedantic(
        lambda: _series(kind, image, vmlab.accel_from_env() or "tcg", tmp_path, count,
                        progress), rounds=1, iterations=1)
    RATIOS.setdefault(TITLE, []).append(
        f"  {kind:<10} " + (f"corrupt after migration {done} of {count}: {said}" if said
                            else f"{count} migrations, none corrupt"))
