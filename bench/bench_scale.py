"""The controller at scale, on a k=16 fat-tree (320 switches) served by the sink target
(ctrl/targets/sink: real P4Runtime, no data plane; a `ctrl serve` process of its own):

- memory and cold start against VMs: a controller killed and another started from a
  topology with no VMs, against switches holding N VMs' entries (ctrl/lab/coldstart.py):
  time to every switch in sync, and its RSS then;
- convergence against moves: storms of 10, 100, 1,000 (and 10,000) moves at once
  (ctrl/lab/storm.py), half of them announced;
- the peer, in one process: the control core's memory with N VMs as the wanted state
  was kept before (every VM's entries on every switch, stored: Planner.wanted into a
  WantedState) against the derived state of now.

CI runs 1,000 VMs and storms of up to 1,000 moves; VM_MOBILITY_BIG=1 adds 10,000 and
100,000 VMs and a storm of 10,000 (tens of minutes). Each run's figures go to
SCALE_JSON (default .benchmarks/scale.json), and the README's plot beside it (.png).
Nothing is asserted about time or memory.
"""

from __future__ import annotations

import gc
import json
import os
from pathlib import Path
from typing import Any

import pytest

from bench.conftest import RATIOS
from ctrl.control.core import ControlCore
from ctrl.control.planner import PlacedVM
from ctrl.control.wanted import WantedState
from ctrl.lab.coldstart import cold_start
from ctrl.lab.fattree import fat_tree_topology, scale_hosts
from ctrl.lab.scaleplot import plot
from ctrl.lab.storm import StormOptions, run_sink_storm

BIG = os.environ.get("VM_MOBILITY_BIG") == "1"
SIZES = (1_000, 10_000, 100_000) if BIG else (1_000,)
STORM_VMS = 10_000 if BIG else 1_000
MOVES = (10, 100, 1_000, 10_000) if BIG else (10, 100, 1_000)
VNETS = 256
OUT = Path(os.environ.get("SCALE_JSON", ".benchmarks/scale.json"))
TITLE = "the controller at scale: k=16 fat-tree (320 switches) on the sink target"


def _save(section: str, key: str, value: dict[str, Any]) -> None:
    doc: dict[str, Any] = json.loads(OUT.read_text()) if OUT.exists() else {}
    doc.setdefault(section, {})[key] = value
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1))
    plot(doc, OUT.with_suffix(".png"))
    RATIOS[TITLE] = [f"  {s} {k}: {json.dumps(v)[:150]}" for s, d in doc.items()
                     for k, v in d.items()]


@pytest.mark.parametrize("vms", SIZES)
def test_cold_start_and_memory(vms: int, tmp_path: Path, benchmark: Any) -> None:
    result = benchmark.pedantic(cold_start, args=(16, vms, VNETS, "pod", tmp_path),
                                rounds=1, iterations=1)
    assert result.hosts_adopted == vms
    _save("cold_start", str(vms), result.to_json())


def test_convergence_against_moves(tmp_path: Path, benchmark: Any) -> None:
    options = StormOptions(16, STORM_VMS, 1, "spread", MOVES[0], 0.5)
    reports = benchmark.pedantic(
        lambda: list(run_sink_storm(options, tmp_path, sizes=MOVES)), rounds=1, iterations=1)
    for r in reports:
        assert r.converged == r.moves
        _save("storm", str(r.moves), {
            "vms": r.vms, "announced": r.announced, "total_ms": r.total_ms,
            "announce_ms": r.announce_ms, "p50_ms": r.convergence.p50,
            "p99_ms": r.convergence.p99, "max_ms": r.convergence.max,
            "updates": sum(w.updates for w in r.writes),
            "writes": sum(w.batches for w in r.writes), "notes": list(r.notes)})


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


@pytest.mark.parametrize("model", ["derived (now)", "stored, every VM on every switch"])
def test_core_memory_with_1000_vms(model: str, benchmark: Any) -> None:
    hosts = scale_hosts(16, 1_000, 1, "spread")
    topo = fat_tree_topology(16, hosts=hosts.hosts)

    def build() -> tuple[object, float]:
        gc.collect()
        before = _rss_mb()
        if model.startswith("derived"):
            kept: object = ControlCore(topo)
        else:
            core = ControlCore(topo)
            kept = state = WantedState()
            placed = [PlacedVM(h.vnet, h.mac, h.ip, h.location) for h in core.tracker.unsorted()]
            for sw, entities in core.planner.wanted(placed).items():
                state.set(("switch", sw), {sw: entities})
        return kept, _rss_mb() - before

    kept, grown = benchmark.pedantic(build, rounds=1, iterations=1)
    entries = (sum(len(kept.wanted(s)) for s in topo.switches)
               if isinstance(kept, ControlCore) else
               sum(len(kept.entities(s)) for s in topo.switches)
               if isinstance(kept, WantedState) else 0)
    _save("core_memory_1000_vms", model, {"rss_grown_mb": grown, "entries": entries,
                                          "seconds": benchmark.stats.stats.median})
