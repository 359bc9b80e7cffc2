"""ovs-vswitchd killed (kill -9: its flows gone) under a running `ctrl ovs-target`: the
target notices, ends its P4Runtime streams UNAVAILABLE and refuses the device while it
is down, starts the daemon again, puts back every flow, group and tunnel route from
memory, and serves on: the traffic between two hosts behind it comes back, a client
reads back what it wrote. A daemon that dies again at once is started after a delay;
ovsdb-server killed is started again with nothing lost. The figures are printed, not
asserted."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ctrl.lab.probe import Endpoint, Probe, ProbeOptions
from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.p4rt.client import ArbitrationError
from ctrl.p4rt.schema import P4Schema
from ctrl.targets.ovs import unixctl
from ctrl.targets.ovs.daemon import OvsDaemons
from ctrl.targets.ovs.errors import OvsError
from ctrl.targets.ovs.supervise import CRASH_WINDOW_S, FIRST_DELAY_S, MAX_DELAY_S, respawn_delay
from tests.packet.ovs_target import ovs_available
from tests.packet.syncswitch import SyncSwitch
from tests.targets.ovs.rig import HOSTS, UNDERLAY_B, Rig, rig, stop
from tests.targets.ovs.test_restart import STOP_S, connect, held, program

PATHS = BuildPaths(project_root())
F = TypeVar("F", bound=Callable[..., Any])


def test_respawn_is_at_once_then_slower_while_it_keeps_dying() -> None:
    assert respawn_delay([100.0], 100.0) == 0.0
    assert respawn_delay([10.0, 100.0], 100.0) == 0.0   # the first one is long past
    assert respawn_delay([99.0, 100.0], 100.0) == FIRST_DELAY_S
    assert respawn_delay([98.0, 99.0, 100.0], 100.0) == 2 * FIRST_DELAY_S
    many = [100.0 - i for i in range(30)]
    assert respawn_delay(many, 100.0) == MAX_DELAY_S
    assert respawn_delay(many, 100.0 + CRASH_WINDOW_S + 30) == 0.0


def live(fn: F) -> F:
    """Root, namespaces and Open vSwitch."""
    for mark in (pytest.mark.root,
                 pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces"),
                 pytest.mark.skipif(ovs_available() is not None, reason=str(ovs_available()))):
        fn = mark(fn)
    return fn


@pytest.fixture
def r(tmp_path: Path) -> Iterator[Rig]:
    with rig(tmp_path, "v") as made:
        yield made
        assert made.left_behind() == []


def _answers(ctl: Path) -> bool:
    try:
        asyncio.run(unixctl.call(ctl, "version", timeout=1.0))
    except (OSError, OvsError):
        return False
    return True


def _kill(daemons: OvsDaemons, daemon: str) -> tuple[int, float]:
    pid = daemons.running(daemon)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    return pid, time.monotonic()


def _back(daemons: OvsDaemons, daemon: str, old: int, timeout: float = 30.0) -> float:
    """When a new `daemon` runs (and, for ovs-vswitchd, answers on its unixctl socket)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = daemons.running(daemon)
        if pid is not None and pid != old and (daemon != "ovs-vswitchd"
                                               or _answers(daemons.vswitchd_ctl)):
            return time.monotonic()
        time.sleep(0.005)
    raise AssertionError(f"{daemon} was not started again within {timeout} s")


def _user_routes(daemons: OvsDaemons) -> str:
    return asyncio.run(unixctl.call(daemons.vswitchd_ctl, "ovs/route/show"))


@live
def test_vswitchd_killed_is_started_again_and_every_flow_put_back(r: Rig) -> None:
    schema = P4Schema.load(PATHS.p4info)
    proc = r.start()
    sw = program(r, schema)
    before = held(sw, schema)
    daemons = OvsDaemons(r.rundir / r.sw_ns)
    assert f"User: {UNDERLAY_B}/32" in _user_routes(daemons)
    a, b = (Endpoint(r.hosts[p], HOSTS[p][1]) for p in (1, 2))
    probe = Probe(a, b, ProbeOptions(udp_rate=1000, tcp_rate=0))
    probe.start()
    faults: list[tuple[str, float, float]] = []   # what, killed, up again
    try:
        time.sleep(0.5)
        old, killed = _kill(daemons, "ovs-vswitchd")
        faults.append(("ovs-vswitchd", killed, _back(daemons, "ovs-vswitchd", old)))
        # The controller's stream ended, saying why.
        deadline = time.monotonic() + 10
        while not sw.client.closed.is_set():
            assert time.monotonic() < deadline, "the stream stayed open"
            time.sleep(0.01)
        assert "UNAVAILABLE" in sw.client.close_reason, sw.client.close_reason
        assert "out of service" in sw.client.close_reason, sw.client.close_reason
        sw.close()
        time.sleep(1.0)
        # Again at once: the second death in a minute waits FIRST_DELAY_S, and meanwhile
        # the device is refused, saying why.
        old, killed = _kill(daemons, "ovs-vswitchd")
        time.sleep(0.25)
        refused = connect_refused(r)
        assert "out of service" in refused and "ovs-vswitchd" in refused, refused
        faults.append(("ovs-vswitchd again", killed, _back(daemons, "ovs-vswitchd", old)))
        assert faults[-1][2] - killed >= FIRST_DELAY_S
        _until_serving(r)
        time.sleep(0.5)
        # ovsdb-server killed: started again. (The userspace datapath's main thread, which
        # polls kernel-socket ports, stands still until ovs-vswitchd has its database back.)
        old, killed = _kill(daemons, "ovsdb-server")
        faults.append(("ovsdb-server", killed, _back(daemons, "ovsdb-server", old)))
        time.sleep(2.0)
    finally:
        report = probe.stop()
    sw = connect(r, 2)
    sw.client.schema = schema
    assert held(sw, schema) == before
    assert f"User: {UNDERLAY_B}/32" in _user_routes(daemons)   # the tunnel's route is back
    sw.close()
    for u in report.udp:
        assert u.sent > 4000 and u.lost > 0, u   # the flows were gone a while
        runs = [(probe.origin + g.at, probe.origin + g.at + g.ms / 1e3) for g in u.losses]
        # Every run of loss began with a fault (the datagrams queued at the kill with it)
        print(runs, faults)
        assert all(any(k - 0.05 <= start for _, k, _ in faults) for start, _ in runs), (
            runs, faults)
        kills = [k for _, k, _ in faults] + [float("inf")]
        for (what, killed, up), following in zip(faults, kills[1:], strict=True):
            ends = [end for start, end in runs if killed - 0.05 <= start < following - 0.05]
            back = f"{max(ends) - up:.3f} s after" if ends else "nothing lost"
            print(f"{u.direction}: {what} killed, up again {up - killed:.3f} s later; "
                  f"traffic back {back}")
        # and traffic came back for good: nothing lost in the probe's last second.
        assert max(end for _, end in runs) < probe.origin + report.duration_s - 1.0, (
            runs, faults)
    assert stop(proc) < STOP_S


def connect_refused(r: Rig) -> str:
    """What a client is told when it connects (it must be refused)."""
    sw = SyncSwitch(r.grpc_addr, 1, (0, 3))
    try:
        sw.open()
    except ArbitrationError as exc:
        return str(exc)
    finally:
        sw.close()
    raise AssertionError("a device whose ovs-vswitchd is down accepted a controller")


def _until_serving(r: Rig, timeout: float = 30.0) -> None:
    """Until a client is taken again (the device's flows are back)."""
    deadline = time.monotonic() + timeout
    while True:
        sw = SyncSwitch(r.grpc_addr, 1, (0, 4))
        try:
            sw.open()
            return
        except ArbitrationError:
            assert time.monotonic() < deadline, "the device did not serve again"
            time.sleep(0.05)
        finally:
            sw.close()


@live
def test_a_target_stopped_while_its_ovs_vswitchd_is_down_leaves_nothing(r: Rig) -> None:
    """SIGTERM while the daemon is dead and its restart waits (it died twice in a row):
    the target still ends within 2 s, stopping ovsdb-server and removing the bridges'
    devices that no ovs-vswitchd is there to remove."""
    schema = P4Schema.load(PATHS.p4info)
    proc = r.start()
    program(r, schema).close()
    daemons = OvsDaemons(r.rundir / r.sw_ns)
    old, _ = _kill(daemons, "ovs-vswitchd")
    _back(daemons, "ovs-vswitchd", old)
    _until_serving(r)
    _kill(daemons, "ovs-vswitchd")   # again: started only FIRST_DELAY_S later
    time.sleep(0.1)
    assert daemons.running("ovs-vswitchd") is None
    assert stop(proc) < STOP_S
    assert proc.returncode == 0
    # (the fixture: no process naming the run directory, no device of the bridges)
