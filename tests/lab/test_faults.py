"""`ctrl lab down` leaves nothing of the lab behind: not after a clean `up`, not after a
switch agent was killed (its OVS daemons outlive it; down finds them by their pidfiles).
"Nothing" is checked, not assumed: no namespace of the lab, no process that names its
state directory (targets, the controller, ovsdb-server, ovs-vswitchd), no interface of
its switches in the root namespace."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from ctrl.lab import build, procs
from ctrl.lab.spec import LabError
from ctrl.lab.state import LabState
from ctrl.platform import netns
from tests.lab.labs import left_behind, new_state, processes_naming
from tests.packet.ovs_target import ovs_available

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and veth pairs"),
    pytest.mark.skipif(ovs_available() is not None, reason=str(ovs_available())),
]


def test_up_and_down_of_a_fat_tree_leaves_nothing(tmp_path: Path) -> None:
    state = new_state(tmp_path, "fat-tree:4", "ft")
    spec = build.up(state)
    links = list(state.links)
    assert processes_naming(state.dir)  # the lab runs
    build.down(state)
    state.links = links
    assert left_behind(spec, state) == []


def test_down_after_a_switch_agent_was_killed_leaves_nothing(tmp_path: Path) -> None:
    state = new_state(tmp_path, "cloud-rack", "cr")
    spec = build.up(state)
    links = list(state.links)
    target = next(p for p in state.processes if p.name.startswith("ovs-target"))
    os.kill(target.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while procs.is_running(target) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not procs.is_running(target)
    daemons = [p for p in processes_naming(state.dir) if "ovs-vswitchd" in p or "ovsdb-server" in p]
    assert daemons  # the killed target's daemons forward on
    build.down(state)
    state.links = links
    assert left_behind(spec, state) == []


def test_up_over_a_namespace_left_by_a_crash_says_so_and_changes_nothing(
        tmp_path: Path) -> None:
    state = new_state(tmp_path, "stanford", "ns")
    spec = state.spec()
    stale = spec.namespaces()[1]
    netns.create_netns(stale)
    try:
        with pytest.raises(LabError, match=rf"{stale}.*left by a crash.*Nothing was changed"):
            build.up(state)
        assert [ns for ns in netns.list_netns() if ns in spec.namespaces()] == [stale]
        assert not state.dir.exists() or LabState.load(state.dir) is None
    finally:
        netns.remove_netns(stale)
