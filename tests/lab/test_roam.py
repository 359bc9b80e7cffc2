"""`ctrl lab demo stanford` end to end (root, Open vSwitch): the players roam, the
placement engine (not the demo) migrates the game server after them, with cause
placement; the oscillation under the threshold makes no migration, above it the
migrations keep a dwell apart; the report, summary and plot are written; nothing is left
behind. It asserts what happened, not how fast (the README gives the times)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from ctrl.lab.roam import Timing, run_roam_demo
from ctrl.lab.state import LabState
from ctrl.platform import netns
from tests.lab.labs import processes_naming, renamed, unique_name
from tests.packet.ovs_target import ovs_available

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and veth pairs"),
    pytest.mark.skipif(ovs_available() is not None, reason=str(ovs_available())),
]


def test_the_server_follows_its_players_and_does_not_flap(tmp_path: Path) -> None:
    name = unique_name(tmp_path, "r")
    text, origin = renamed("stanford", name)
    lines: list[str] = []
    timing = Timing(oscillate_s=float(os.environ.get("VM_MOBILITY_ROAM_S", "12")))
    result = run_roam_demo(text, origin, state_dir=tmp_path / "state",
                           out_dir=tmp_path / "out", timing=timing, say=lines.append)
    doc: dict[str, Any] = dict(result.doc)
    steps = {s["label"]: s for s in doc["steps"]}
    start, packard, gates = (steps[k] for k in ("at the start", "everyone to ap-packard",
                                                "everyone to ap-gates"))
    assert start["migration"] is None and start["server"] == "vmhost-gates"
    for step, there in ((packard, "vmhost-packard"), (gates, "vmhost-gates")):
        m = step["migration"]
        assert m is not None and (m["to"], m["cause"]) == (there, "placement"), (
            f"{step['label']}: the engine's migration {m}, the server at {step['server']}; "
            f"the engine said: {step['engine']}")
        assert step["server"] == there
        assert step["hops"] == step["minimum"] == {"laptop": 1, "phone": 1}
        assert all(ms is not None for ms in step["rtt_ms"].values())
    under = steps["oscillation under the threshold"]
    over = steps["oscillation above the threshold"]
    assert under["roams"] >= 2 and under["migrations"] == []
    assert over["roams"] >= 2
    goals = {g["what"]: g["met"] for g in doc["goals"]}
    assert goals["oscillation under the threshold: 0 migrations"]
    assert goals["oscillation above the threshold: at most one migration per dwell (5 s)"]
    assert goals["everyone to ap-packard: every player's hop count back to its minimum"]
    # Every migration of the server was the engine's; the players' were roams.
    moves = doc["migrations"]
    assert {m["cause"] for m in moves if m["host"] == "game-server"} == {"placement"}
    assert {m["cause"] for m in moves if m["host"] != "game-server"} == {"roam"}
    assert any(d["decision"] == "migrate" for d in doc["decisions"])
    files = {f.name: f for f in result.files}
    assert json.loads(files["roam.json"].read_text())["server"] == "game-server"
    assert files["roam.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "MET" in files["summary.txt"].read_text()
    assert [ns for ns in netns.list_netns() if ns.startswith(f"{name}-")] == []
    assert LabState.load(tmp_path / "state") is None
    assert processes_naming(tmp_path / "state") == []
