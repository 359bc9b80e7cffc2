"""Faults on purpose (`ctrl lab fault`, `ctrl lab chaos`) on cloud-rack for real (root,
Open vSwitch): each switch agent, each site's ovs-vswitchd and the controller killed with
SIGKILL and started again under the probe, a migration after each. Nothing that did not
move loses a datagram (ovs-vswitchd takes its flows with it: there the traffic comes
back), TCP lives through it all, every switch is in sync again (as the controller says
after it reconnected), and `down` leaves nothing of the restarted processes. Recovery
times are printed, not asserted."""

from __future__ import annotations

import io
import json
import os
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from ctrl.cli import main
from ctrl.ha.etcdproc import find_etcd, free_port
from ctrl.lab import build, faults, moves, procs
from ctrl.lab.chaos import run_chaos, table
from ctrl.lab.cli import _ha_line
from ctrl.lab.demo import endpoints, probe_options
from ctrl.lab.migrate import migrate
from ctrl.lab.moves import primary_api
from ctrl.lab.probe import Probe
from ctrl.lab.spec import LabError
from ctrl.lab.state import LabState
from ctrl.northbound.client import ApiError, call
from tests.lab.labs import left_behind, new_state
from tests.packet.ovs_target import ovs_available

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and veth pairs"),
    pytest.mark.skipif(ovs_available() is not None, reason=str(ovs_available())),
]


def test_every_component_killed_and_restarted_under_the_probe_loses_nothing(
        tmp_path: Path) -> None:
    state = new_state(tmp_path, "cloud-rack", "ch")
    spec = build.up(state)
    try:
        assert faults.components(state) == ["ovs-target:campus-a", "vswitchd:campus-a",
                                            "ovs-target:campus-b", "vswitchd:campus-b",
                                            "controller"]
        pids = {p.name: p.pid for p in state.processes}
        daemons = {c: faults.vswitchd_pid(state, c) for c in faults.components(state)
                   if c.startswith("vswitchd:")}
        lines: list[str] = []
        steps = run_chaos(state, 0.0, say=lines.append)
        print("\n".join(lines + table(steps)))
        killed = [s for s in steps if s.fault is not None]
        # the controller twice: the second time vm2 moves while it is down
        assert [s.fault.component for s in killed if s.fault] == [*faults.components(state),
                                                                  "controller"]
        for s in killed:
            assert s.fault is not None and s.fault.in_sync >= s.fault.serving > s.fault.killed
            assert s.tcp_ok, s.to_json()
            if s.loses_its_flows or s.moved_meanwhile:
                assert s.back and s.ok, s.to_json()
            else:
                assert s.lost == 0, s.to_json()
        assert killed[-1].moved_meanwhile and killed[-1].found_s is not None
        # campus-a's ovs-vswitchd carries the probe (the user's desk is there): its flows
        # were gone a while, and came back.
        a = next(s for s in killed if s.label == "kill -9 vswitchd:campus-a")
        assert a.lost > 0 and a.back_s is not None, a.to_json()
        moved = [s for s in steps if s.migration is not None]
        assert [(s.migration.src, s.migration.dst) for s in moved if s.migration] == [
            ("server2", "server1"), ("server1", "server3"), ("server3", "server1"),
            ("server1", "server3"), ("server3", "server1")]
        assert all(s.tcp_ok for s in moved)
        # Each site's ovs-vswitchd is a new one, started by its target.
        for c, pid in daemons.items():
            assert faults.vswitchd_pid(state, c) not in (None, pid), c
        # Every one is a new process, the state points at it, and it runs.
        again = LabState.load(state.dir)
        assert again is not None
        for p in again.processes:
            assert procs.is_running(p) and p.pid != pids[p.name], p
        assert state.locations["vm2"] == "server1"
    finally:
        build.down(state)
    assert left_behind(spec, state) == []


def refused(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """What `ctrl ARGS` says when it refuses (exit 2)."""
    capsys.readouterr()
    assert main(args) == 2
    return capsys.readouterr().err


def test_fault_on_the_command_line_and_its_errors(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    state = new_state(tmp_path, "cloud-rack", "cf")
    spec = build.up(state)
    lab = ["lab", "--state-dir", str(state.dir)]
    try:
        err = refused([*lab, "fault", "kill", "nope"], capsys)
        assert "no component 'nope'" in err and "ovs-target:campus-a" in err
        assert "runs already" in refused([*lab, "fault", "start", "controller"], capsys)
        out = io.StringIO()
        with redirect_stdout(out):
            assert main([*lab, "fault", "kill", "vswitchd:campus-a"]) == 0
            assert main([*lab, "fault", "start", "vswitchd:campus-a"]) == 0
        # Killed again at once, it is started again only after a while (a crash loop):
        # meanwhile the controller says its switches are not connected, and why.
        faults.wait_in_sync(state)
        faults.kill(state, "vswitchd:campus-a")
        said = _while_out(state.api, "a1", capsys)
        print(said)
        assert "ovs-vswitchd" in said and "False" in said, said
        with redirect_stdout(out):
            assert main([*lab, "fault", "start", "vswitchd:campus-a"]) == 0
            assert main([*lab, "fault", "kill", "ovs-target:campus-b"]) == 0
        assert "is not running" in refused([*lab, "fault", "kill", "ovs-target:campus-b"],
                                           capsys)
        # Its ovs-vswitchd too, while no target runs to start it again: the target's start
        # starts it, and puts the flows back from its journal.
        with redirect_stdout(out):
            assert main([*lab, "fault", "kill", "vswitchd:campus-b"]) == 0
        err = refused([*lab, "fault", "start", "vswitchd:campus-b"], capsys)
        assert "fault start ovs-target:campus-b" in err, err
        with redirect_stdout(out):
            assert main([*lab, "status"]) == 0
            assert main([*lab, "fault", "start", "ovs-target:campus-b"]) == 0
            assert main([*lab, "fault", "restart", "controller", "--down", "0"]) == 0
        chaos = io.StringIO()
        with redirect_stdout(chaos):
            code = main([*lab, "chaos", "--only", "ovs-target:campus-a", "--duration", "0",
                         "--out", str(tmp_path / "out")])
        assert code == 0, chaos.getvalue()
        text = out.getvalue()
        assert "ovs-target campus-b" in text and "GONE" in text
        assert "vswitchd campus-b" in text and "NOT running" in text
        assert "vswitchd:campus-a runs again (its target started it)" in text
        assert "every switch in sync" in text
        report = json.loads((tmp_path / "out" / "chaos.json").read_text())
        assert [r["label"] for r in report] == ["kill -9 ovs-target:campus-a",
                                                "migrate vm2 server2 -> server1"]
        assert report[0]["lost"] == 0 and report[0]["recovery_s"] > 0
        assert (tmp_path / "out" / "chaos.txt").read_text().startswith("step")
        with pytest.raises(LabError, match="no component ovs-target:campus-z"):
            run_chaos(state, 0.0, only=["ovs-target:campus-z"])
        links = list(state.links)
        down = io.StringIO()
        with redirect_stdout(down):   # `ctrl lab down` checks what is left, and says so
            assert main([*lab, "down"]) == 0, down.getvalue()
        assert "nothing left behind" in down.getvalue()
        state.links = links
    finally:
        # The commands changed the state on disk (new processes): down as `ctrl lab down`.
        state = LabState.load(state.dir) or state
        build.down(state)
    assert left_behind(spec, state) == []


def _while_out(api: str, switch: str, capsys: pytest.CaptureFixture[str]) -> str:
    """`ctrl switches`' line for `switch` once the controller has it not connected."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = call(api, "switches", timeout=2)
        assert isinstance(rows, list)
        row = next(r for r in rows if r["name"] == switch)
        if not row["connected"] and row["last_error"]:
            capsys.readouterr()
            assert main(["switches", "--api", api]) == 0
            return next(line for line in capsys.readouterr().out.splitlines()
                        if line.startswith(switch))
        time.sleep(0.02)
    raise AssertionError(f"{switch} never shown as not connected")


@pytest.mark.skipif(find_etcd() is None, reason="etcd is not installed")
def test_a_pair_s_controllers_killed_in_turn_fail_over_and_lose_nothing(
        tmp_path: Path) -> None:
    state = new_state(tmp_path, "cloud-rack", "cp")
    state.controllers, state.apis = 2, [f"127.0.0.1:{free_port()}"]
    spec = build.up(state)
    try:
        # A new pair starts from nothing: no earlier lab's locations in its etcd.
        assert primary_api(state) in (state.api, *state.apis)
        lines: list[str] = []
        steps = run_chaos(state, 0.0, only=["controller-1", "controller-2"],
                          say=lines.append)
        print("\n".join(lines + table(steps)))
        killed = [s for s in steps if s.fault is not None]
        assert [s.fault.component for s in killed if s.fault] == ["controller-1",
                                                                  "controller-2"]
        for s in killed:
            assert s.lost == 0 and s.tcp_ok, s.to_json()
        assert all(s.tcp_ok for s in steps)
        # The one that was primary when killed came back as a standby: one primary.
        assert sum(_ha_line(a).startswith("PRIMARY") for a in (state.api, *state.apis)) == 1
    finally:
        state = LabState.load(state.dir) or state
        build.down(state)
    assert left_behind(spec, state) == []
    assert not (state.dir / "etcd").exists()


def test_a_vm_moved_while_the_controller_was_down_is_found_after_it_starts(
        tmp_path: Path) -> None:
    state = new_state(tmp_path, "cloud-rack", "cm")
    spec = build.up(state)
    try:
        vm2 = spec.hosts["vm2"]
        faults.kill(state, "controller")
        migrate(state, "vm2", "server1", announce=False)   # its RARP reaches nobody
        started = faults.start(state, "controller")
        deadline = started + 10
        while (where := _where(state, vm2.mac)) != "a1:2":
            assert time.monotonic() < deadline, where
            time.sleep(0.02)
        print(f"vm2 found at server1 {time.monotonic() - started:.2f} s after the "
              "controller served again")
        with Probe(*endpoints(spec), probe_options(spec)) as probe:
            time.sleep(1.0)
        assert probe.report is not None
        assert all(u.lost == 0 for u in probe.report.udp), probe.report.summary()
    finally:
        state = LabState.load(state.dir) or state
        build.down(state)
    assert left_behind(spec, state) == []


def _where(state: LabState, mac: str, api: str = "") -> str:
    try:
        hosts = call(api or state.api, "hosts", timeout=2)
    except ApiError as exc:
        return str(exc)
    assert isinstance(hosts, list)
    return next((f"{h['switch']}:{h['port']}" for h in hosts if h["mac"] == mac), "unknown")


@pytest.mark.skipif(find_etcd() is None, reason="etcd is not installed")
def test_a_migration_announced_before_a_failover_completes_on_the_new_primary(
        tmp_path: Path) -> None:
    state = new_state(tmp_path, "cloud-rack", "cx")
    state.controllers, state.apis = 2, [f"127.0.0.1:{free_port()}"]
    spec = build.up(state)
    try:
        old = primary_api(state)
        moves.announce(state, "vm2", "server1")               # to the primary
        component = "controller-1" if old == state.api else "controller-2"
        faults.kill(state, component)
        faults.wait_in_sync(state)                            # the other one took over
        new = primary_api(state)
        assert new != old
        book = call(new, "migrations")
        assert isinstance(book, dict)
        assert [(m["to"], m["phase"]) for m in book["active"]] == [("a1:2", "announced")]
        # The VM arrives (its RARP at the new place): the new primary ends the migration.
        migrate(state, "vm2", "server1", announce=False)
        deadline = time.monotonic() + 10
        while (book := call(new, "migrations")) and isinstance(book, dict) and book["active"]:
            assert time.monotonic() < deadline, book
            time.sleep(0.02)
        assert isinstance(book, dict)
        assert [(m["to"], m["phase"]) for m in book["finished"]][-1:] == [("a1:2", "done")]
        assert _where(state, spec.hosts["vm2"].mac, new) == "a1:2"
        with Probe(*endpoints(spec), probe_options(spec)) as probe:
            time.sleep(1.0)
        assert probe.report is not None
        assert all(u.lost == 0 for u in probe.report.udp), probe.report.summary()
        # The old primary back (a standby now); the new one killed, and a migration
        # announced at once, during the failover: it waits for the next primary, completes.
        faults.start(state, component)
        deadline = time.monotonic() + 10
        while not _ha_line(old).startswith("standby"):
            assert time.monotonic() < deadline, _ha_line(old)
            time.sleep(0.05)
        with Probe(*endpoints(spec), probe_options(spec)) as probe:
            time.sleep(0.3)
            killed = faults.kill(state, "controller-2" if component == "controller-1"
                                 else "controller-1")
            m = migrate(state, "vm2", "server2", announce=True)
            faults.wait_host_at(state, "vm2", "server2")
            time.sleep(0.5)
        assert probe.report is not None
        print(f"announced {m.asked - killed:.3f} s after the primary's kill, the VM paused "
              f"{m.paused - killed:.3f} s after it; lost "
              f"{[u.lost for u in probe.report.udp]}, longest loss "
              f"{max(u.longest_loss_ms for u in probe.report.udp):.1f} ms")
        assert primary_api(state) == old and _where(state, spec.hosts["vm2"].mac, old) == "a2:2"
        assert all(t.survived for t in probe.report.tcp), probe.report.summary()
    finally:
        state = LabState.load(state.dir) or state
        build.down(state)
    assert left_behind(spec, state) == []
