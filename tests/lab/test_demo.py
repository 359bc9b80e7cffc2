"""`ctrl lab demo` end to end (root, Open vSwitch): nothing lost without migration, TCP
through every migration, the reports and the plot written, nothing left behind. It
asserts what happened, never how fast: bench/bench_lab_migrations.py gives the times."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import pytest

from ctrl.lab.demo import run_demo
from ctrl.lab.report import Report
from ctrl.lab.state import LabState
from ctrl.platform import netns
from ctrl.targets.bmv2 import find_simple_switch_grpc
from tests.lab.labs import renamed, unique_name
from tests.packet.ovs_target import ovs_available

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and veth pairs"),
    pytest.mark.skipif(ovs_available() is not None, reason=str(ovs_available())),
]


@pytest.mark.parametrize(("topology", "target"), [("cloud-rack", "ovs"), ("stanford", "ovs"),
                                                  ("cloud-rack", "bmv2")])
def test_the_demo_runs_and_leaves_nothing_behind(tmp_path: Path, topology: str,
                                                 target: str) -> None:
    if target == "bmv2" and find_simple_switch_grpc() is None:
        pytest.skip("bmv2 simple_switch_grpc is not on PATH: the lab on bmv2 is not run here")
    name = unique_name(tmp_path, "d")
    text, origin = renamed(topology, name)
    lines: list[str] = []
    result = run_demo(text, origin, state_dir=tmp_path / "state", out_dir=tmp_path / "out",
                      target=target, settle=1.5, say=lines.append)
    assert [u.lost for u in result.baseline.udp] == [0, 0]       # no migration, no loss
    assert all(u.received == u.sent for u in result.baseline.udp)
    assert len(result.steps) == 2 and all(s.migration.announced for s in result.steps)
    for t in result.report.tcp:                                  # through both migrations
        assert t.survived and t.complete and t.in_order, t
    assert result.ok
    assert [m.name for m in result.report.marks] == [s.label for s in result.steps]
    for f in result.files:
        assert f.exists() and f.stat().st_size > 0
    assert Report.from_json(result.files[1].read_text()).tcp == result.report.tcp
    assert json.loads(result.files[0].read_text())["udp"][0]["lost"] == 0
    assert result.files[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = result.files[4].read_text()                          # the HTML report
    assert page.count('src="data:image/png;base64,') == 1 and "Cloud Rack" in page
    assert all(html.escape(s.label) in page for s in result.steps)
    assert any("Cloud Rack" in line for line in result.table)
    assert [ns for ns in netns.list_netns() if ns.startswith(f"{name}-")] == []
    assert LabState.load(tmp_path / "state") is None
