"""`ctrl lab storm --target ovs`, small (root, Open vSwitch): a k=4 fat-tree of 40 VMs, 36
of them light, 8 of those and one VM of each of two probed pairs moving at once, half
announced. Every move converges by the controller's own record: an unannounced light
VM's new place is known from its RARP alone, a real frame into a real bridge. The probe
ran both ways on each pair and says what it lost; the lab is down with nothing left
behind. It asserts what happened, never how fast (`ctrl lab storm --target ovs --k 8
--vms 1000 --moves 100` is the big one, by hand: README "At scale")."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ctrl.cli import main
from ctrl.lab.labstorm import lab_name
from ctrl.lab.leftovers import processes_naming
from ctrl.platform import netns
from tests.packet.ovs_target import ovs_available

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and veth pairs"),
    pytest.mark.skipif(ovs_available() is not None, reason=str(ovs_available())),
]


def test_a_storm_through_open_vswitch_converges_under_the_probe(tmp_path: Path) -> None:
    state, out = tmp_path / "state", tmp_path / "out"
    code = main(["lab", "--state-dir", str(state), "storm", "--target", "ovs", "--k", "4",
                 "--vms", "40", "--vnets", "2", "--moves", "8", "--announced", "0.5",
                 "--probes", "2", "--probe-rate", "100", "--settle", "0.5",
                 "--out", str(out)])
    assert code == 0
    [r] = json.loads((out / "storm.json").read_text())
    assert r["moves"] == 10 and r["announced"] == 5 and r["vms"] == 40
    assert r["converged"] == 10 and r["not_converged"] == []
    assert r["convergence"]["n"] == 10 and r["total_ms"] > 0
    assert "Open vSwitch" in r["fabric"] and "36 light VMs" in r["fabric"]
    assert sum(w["updates"] for w in r["writes"]) > 0
    probes = r["probes"]
    assert len(probes) == 4                     # two pairs, both ways
    assert len({p["moved"] for p in probes}) == 2 and all(p["moved"] for p in probes)
    assert [p["announced"] for p in probes].count(True) == 2      # one pair of two
    assert all(p["sent"] > 0 and 0 <= p["lost"] <= p["sent"] for p in probes)
    name = lab_name(state)
    assert not [ns for ns in netns.list_netns() if ns.startswith(f"{name}-")]
    assert processes_naming(state) == []
