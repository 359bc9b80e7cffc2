"""The lab with real guests (root, Open vSwitch, QEMU): cloud-rack's VMs as QEMU guests,
live-migrated within a site and across the WAN while a TCP connection to one stays
open, and it survives; a migration that fails leaves the guest where it was and the
network as it was; `down` leaves nothing behind. One lab, booted once, for the module.

Correctness only: the figures (QEMU's downtime, the probe's interruption) are printed,
not asserted; `ctrl lab demo --guests qemu` gives them.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctrl.cli import main
from ctrl.lab import build, guests, procs
from ctrl.lab.demo import endpoints, probe_options
from ctrl.lab.migrate import migrate
from ctrl.lab.probe import Probe
from ctrl.lab.spec import LabError, LabSpec
from ctrl.lab.state import LabState
from ctrl.northbound.client import ApiError, call
from ctrl.platform import netns
from ctrl.targets.bmv2 import free_tcp_port
from tests.lab.labs import renamed, unique_name
from tests.packet.ovs_target import ovs_available
from tests.vm import vmlab


def _skip_reason() -> str | None:
    return vmlab.skip_reason() or ovs_available()


pytestmark = [
    pytest.mark.root,
    pytest.mark.qemu,
    pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason())),
]

Lab = tuple[LabState, LabSpec]


def ours(spec: LabSpec, state: LabState) -> list[str]:
    """What of this lab is still there: namespaces, processes (QEMU among them)."""
    out = [ns for ns in netns.list_netns() if ns.startswith(f"{spec.name}-")]
    return out + [p.name for p in state.processes if procs.is_running(p)]


@pytest.fixture(scope="module")
def qlab() -> Iterator[Lab]:
    vmlab.guest_image()   # or a skip that says what is missing to make it
    # Short: QEMU's unix sockets live under it.
    root = Path(tempfile.mkdtemp(prefix="qlab-"))
    text, origin = renamed("cloud-rack", unique_name(root, "q"))
    state = LabState(root / "lab", text, origin, "ovs", [free_tcp_port() for _ in range(2)],
                     f"127.0.0.1:{free_tcp_port()}", guests="qemu")
    lines: list[str] = []
    spec = build.up(state, lines.append, vmlab.accel_from_env() or "auto")
    print("\n".join(lines))
    running = [p for p in state.processes if p.name.startswith("qemu ")]
    try:
        yield state, spec
    finally:
        build.down(state)
        assert ours(spec, state) == []
        assert not any(procs.is_running(p) for p in running)
        assert LabState.load(state.dir) is None
        shutil.rmtree(root, ignore_errors=True)


def qemus(state: LabState) -> list[str]:
    return sorted(p.name for p in state.processes if p.name.startswith("qemu "))


def controller_sees(state: LabState, mac: str) -> str:
    hosts = call(state.api, "hosts")
    assert isinstance(hosts, list)
    return next(f"{h['switch']}:{h['port']}" for h in hosts if h["mac"] == mac)


def what_the_lab_knows(lab: Lab) -> str:
    """Why vm2 may not answer: whether its QEMU runs, where the controller has it, and
    whether it echoes a datagram now (the network and the guest both work)."""
    state, spec = lab
    vm2, user = spec.hosts["vm2"], spec.hosts["user"]
    try:
        guests.attach(state, spec, vm2).qmp.close()
        where = controller_sees(state, vm2.mac)
        seen = f"its QEMU runs; the controller has it at {where}"
    except (LabError, StopIteration) as exc:
        seen = str(exc) or "the controller does not know it"
    udp = vmlab.udp_echo(user.ns, vm2.ip, guests.GUEST_PORT, timeout=5.0)
    return f"{seen}; a datagram to it {'is' if udp else 'is not'} echoed within 5 s"


def connect(lab: Lab) -> socket.socket:
    """A TCP connection from the user to vm2's echo, or a failure that says why not."""
    _, spec = lab
    vm2, user = spec.hosts["vm2"], spec.hosts["user"]
    start = time.monotonic()
    try:
        with netns.in_netns(user.ns):
            return socket.create_connection((vm2.ip, guests.GUEST_PORT), timeout=20)
    except OSError as exc:
        took = time.monotonic() - start
        raise AssertionError(f"no TCP connection to vm2 ({exc!r} after {took:.1f} s): "
                             f"{what_the_lab_knows(lab)}") from None


def echo(conn: socket.socket, payload: bytes, lab: Lab) -> bytes:
    """The guest's echo; when it does not come, what the lab knows of vm2 says why."""
    start = time.monotonic()
    try:
        return vmlab.tcp_echo(conn, payload)
    except TimeoutError:
        took = time.monotonic() - start
        raise AssertionError(f"no echo of {payload!r} from vm2 in {took:.1f} s: "
                             f"{what_the_lab_knows(lab)}") from None


def test_the_vms_are_guests_at_their_hypervisors_and_echo(qlab: Lab) -> None:
    state, spec = qlab
    assert qemus(state) == ["qemu vm1", "qemu vm2"]
    assert all(procs.is_running(p) for p in state.processes)
    vm2, user = spec.hosts["vm2"], spec.hosts["user"]
    assert vm2.guest and not user.guest and vm2.ns not in netns.list_netns()
    assert netns.link_exists(vm2.port_name, spec.hypervisors["server2"].ns)
    assert vmlab.udp_echo(user.ns, vm2.ip, guests.GUEST_PORT)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["lab", "--state-dir", str(state.dir), "status"]) == 0
    assert "QEMU guests" in out.getvalue() and "qemu vm2" in out.getvalue()
    assert "at server2  (QEMU guest, pid" in out.getvalue()


def test_a_tcp_connection_survives_live_migrations_within_a_site_and_across_the_wan(
        qlab: Lab) -> None:
    state, spec = qlab
    vm2 = spec.hosts["vm2"]
    with connect(qlab) as conn:
        assert echo(conn, b"before the moves", qlab) == b"before the moves"
        within = migrate(state, "vm2", "server1")                       # announced
        print(f"within the site: QEMU's downtime {within.qemu_downtime_ms} ms, the guest "
              f"paused {within.downtime * 1e3:.1f} ms")
        assert (within.src, within.dst, within.announced) == ("server2", "server1", True)
        assert within.qemu_downtime_ms is not None and within.downtime > 0
        assert echo(conn, b"at server1", qlab) == b"at server1"
        assert controller_sees(state, vm2.mac) == "a1:2"
        assert not netns.link_exists(vm2.port_name, spec.hypervisors["server2"].ns)
        assert qemus(state) == ["qemu vm1", "qemu vm2"]
        # Across the WAN, unannounced, under the probe (echo mode): its own TCP stream
        # and this connection both live through it.
        a, b = endpoints(spec)
        with Probe(a, b, probe_options(spec)) as probe:
            time.sleep(1.0)
            wan = migrate(state, "vm2", "server3", announce=False)
            probe.mark("across the WAN", wan.paused)
            time.sleep(1.0)
        assert probe.report is not None
        print(probe.report.summary())
        (tcp,) = probe.report.tcp
        assert tcp.survived and tcp.complete and tcp.in_order, tcp
        (udp,) = probe.report.udp
        assert udp.received > 0 and udp.duplicated == 0
        assert echo(conn, b"at server3, across the WAN", qlab) == b"at server3, across the WAN"
    assert state.locations["vm2"] == "server3"
    assert controller_sees(state, vm2.mac) == "b1:2"
    assert qemus(state) == ["qemu vm1", "qemu vm2"]
    again = LabState.load(state.dir)
    assert again is not None and again.locations["vm2"] == "server3"
    assert [e["dst"] for e in again.events()][-2:] == ["server1", "server3"]


def test_a_failed_migration_leaves_the_guest_where_it_was(qlab: Lab) -> None:
    state, spec = qlab
    vm2, user = spec.hosts["vm2"], spec.hosts["user"]
    before = dict(state.locations)
    failed: list[BaseException] = []

    def slow_move() -> None:
        try:   # slow enough to be cut off half-way
            migrate(state, "vm2", "server2", max_bandwidth=200_000)
        except BaseException as exc:
            failed.append(exc)

    worker = threading.Thread(target=slow_move, name="slow migration")
    worker.start()
    incoming = guests.proc_name("vm2", "server2")
    deadline = time.monotonic() + 60
    dest = None
    while dest is None and time.monotonic() < deadline and worker.is_alive():
        dest = next((p for p in list(state.processes) if p.name == incoming), None)
        time.sleep(0.05)
    assert dest is not None
    time.sleep(1.0)   # well into pre-copy
    os.kill(dest.pid, signal.SIGKILL)
    worker.join(60)
    assert not worker.is_alive()
    assert len(failed) == 1 and isinstance(failed[0], LabError), failed
    assert "did not move to server2" in str(failed[0])
    assert state.locations == before
    assert qemus(state) == ["qemu vm1", "qemu vm2"]
    assert not netns.link_exists(vm2.port_name, spec.hypervisors["server2"].ns)
    # The announcement was cancelled: nothing is in flight any more.
    with pytest.raises(ApiError, match="no migration under way"):
        call(state.api, "migrate/vm2", None, "DELETE")
    assert controller_sees(state, vm2.mac) == "b1:2"
    assert vmlab.udp_echo(user.ns, vm2.ip, guests.GUEST_PORT)


def test_a_migration_that_cannot_happen_changes_nothing(qlab: Lab) -> None:
    state, _ = qlab
    before = (dict(state.locations), qemus(state))
    for host, to, message in [("vm2", "server3", "is at server3 already"),
                              ("vm2", "mars", "no hypervisor 'mars'"),
                              ("vm9", "server1", "no VM or client 'vm9'")]:
        with pytest.raises(LabError, match=message):
            migrate(state, host, to)
    assert (dict(state.locations), qemus(state)) == before
