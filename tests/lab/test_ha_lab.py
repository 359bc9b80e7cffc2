"""`ctrl lab up --controllers 2` for real (root, Open vSwitch, etcd): one primary, the
other a standby, `lab status` says which; the primary killed, the other takes over; down
leaves nothing, etcd included."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import time
from pathlib import Path

import pytest

from ctrl.ha.etcdproc import find_etcd, free_port
from ctrl.lab import build, procs
from ctrl.lab.cli import _ha_line, cmd_status
from ctrl.lab.state import LabState
from ctrl.platform import netns
from tests.lab.labs import new_state
from tests.packet.ovs_target import ovs_available

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and veth pairs"),
    pytest.mark.skipif(ovs_available() is not None, reason=str(ovs_available())),
    pytest.mark.skipif(find_etcd() is None, reason="etcd is not installed"),
]


def _status(state: LabState) -> str:
    class Args:
        state_dir = str(state.dir)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cmd_status(Args())   # type: ignore[arg-type]
    return out.getvalue()


def test_a_lab_with_two_controllers_fails_over(tmp_path: Path) -> None:
    state = new_state(tmp_path, "stanford", "ha")
    state.controllers, state.apis = 2, [f"127.0.0.1:{free_port()}"]
    spec = build.up(state)
    started = list(state.processes)
    try:
        text = _status(state)
        print(text)
        assert text.count("PRIMARY") == 1 and "standby" in text
        names = {p.name: p for p in state.processes}
        assert {"etcd", "controller-1", "controller-2"} <= set(names)
        apis = {"controller-1": state.api, "controller-2": state.apis[0]}
        primary = next(n for n, a in apis.items() if _ha_line(a).startswith("PRIMARY"))
        other = next(n for n in apis if n != primary)
        os.kill(names[primary].pid, signal.SIGKILL)
        start = time.monotonic()
        while not _ha_line(apis[other]).startswith("PRIMARY"):
            assert time.monotonic() - start < 15, _ha_line(apis[other])
            time.sleep(0.05)
        print(f"{other} primary {time.monotonic() - start:.2f} s after {primary} was killed")
        assert "not answering" in _status(state)
    finally:
        build.down(state)
    assert not [ns for ns in netns.list_netns() if ns.startswith(f"{spec.name}-")]
    assert started and not [p.name for p in started if procs.is_running(p)]
