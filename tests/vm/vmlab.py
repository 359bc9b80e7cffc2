"""Helpers of the QEMU tests: two hypervisor namespaces whose bridges are joined by a
veth (one L2 segment), a client namespace on the first, and traffic to a guest's
endpoint. Every address is in 10.98.0.0/24, inside namespaces made here."""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from ctrl.platform import netns
from ctrl.vm.errors import VmError
from ctrl.vm.image import GuestImage, ensure_image
from ctrl.vm.qemu import QEMU, QEMU_PACKAGE

BRIDGE = "br0"
CLIENT_IP = "10.98.0.1"
GUEST_IP = "10.98.0.10"
GUEST_MAC = "52:54:00:98:00:0a"
ACCEL_ENV = "VM_MOBILITY_ACCEL"   # kvm or tcg: skips the probe


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root for namespaces and tap devices"
    if shutil.which(QEMU) is None:
        return f"{QEMU} is not installed (apt-get install {QEMU_PACKAGE})"
    return None


def guest_image() -> GuestImage:
    """The cached image, or a skip saying what is missing to build it."""
    try:
        return ensure_image()
    except VmError as exc:
        pytest.skip(f"no guest image: {exc}")


@dataclass(frozen=True, slots=True)
class Segment:
    """hv_a and hv_b: hypervisors, each with bridge br0, joined by a veth; client: a
    namespace whose eth0 (CLIENT_IP) is a port of hv_a's bridge."""

    hv_a: str
    hv_b: str
    client: str
    workdir: Path


@contextmanager
def segment(tmp_path: Path, tag: str) -> Iterator[Segment]:
    seg = Segment(f"{tag}-hva", f"{tag}-hvb", f"{tag}-cl", tmp_path)
    made: list[str] = []
    try:
        for ns in (seg.hv_a, seg.hv_b, seg.client):
            netns.create_netns(ns)
            made.append(ns)
        for ns in (seg.hv_a, seg.hv_b):
            netns.add_bridge_in(BRIDGE, ns)
        netns.add_veth("eth0", "client0", peer_ns=seg.hv_a, ns=seg.client)
        netns.set_master_in("client0", BRIDGE, seg.hv_a)
        netns.addr_add("eth0", CLIENT_IP, 24, seg.client)
        netns.set_link_up("lo", seg.client)
        netns.add_veth("tob", "toa", peer_ns=seg.hv_b, ns=seg.hv_a)
        netns.set_master_in("tob", BRIDGE, seg.hv_a)
        netns.set_master_in("toa", BRIDGE, seg.hv_b)
        yield seg
    finally:
        for ns in made:
            netns.remove_netns(ns)


def client_socket(ns: str, kind: int) -> socket.socket:
    with netns.in_netns(ns):
        return socket.socket(socket.AF_INET, kind)


def udp_echo(ns: str, ip: str, port: int, payload: bytes = b"probe",
             timeout: float = 20.0) -> bool:
    """A datagram to the guest's endpoint comes back, within `timeout` (resent every
    0.5 s: the first ones may wait for ARP)."""
    with client_socket(ns, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sock.sendto(payload, (ip, port))
            try:
                while True:
                    data, peer = sock.recvfrom(2048)
                    if data == payload and peer == (ip, port):
                        return True
            except TimeoutError:
                continue
    return False


def tcp_echo(conn: socket.socket, payload: bytes) -> bytes:
    conn.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = conn.recv(len(payload) - len(got))
        if not chunk:
            break
        got += chunk
    return got


def accel_from_env() -> str | None:
    value = os.environ.get(ACCEL_ENV)
    return value if value in ("kvm", "tcg") else None
