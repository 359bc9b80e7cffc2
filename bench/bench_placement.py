"""The placement engine's decision at scale: 10,000 VMs with follow-clients and 100,000
clients on a k=16 fat-tree (320 switches, 1,024 hypervisors on its 128 edge switches),
one round: every VM's traffic-weighted link count to every candidate switch (the C kernel
over the C path engine's all-pairs table), the best, the guard rails, a decision each.
Goal (issue 15): <= 100 ms with the C path engine.

The peer, in the same run: the same decision in pure Python over networkx's all-pairs
distances (the usual way to write it). Both distance tables are made before the timing
(a link change remakes them; bench_paths.py times that). Before timing, every VM's
decision is checked the same both ways (the target switch, or staying). Nothing about
time is asserted; the summary prints the medians and the ratio.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx
import pytest

from bench.conftest import RATIOS
from ctrl.control.topology import Topology, parse_topology
from ctrl.fastpath import native_available
from ctrl.lab.fattree import fat_tree_yaml
from ctrl.placement.engine import Decision, Limits, Placed, PlacementEngine, Target, Verdict, World
from ctrl.placement.fabric import Fabric
from ctrl.placement.follow import FollowClients
from ctrl.placement.manager import Policy

TITLE = "placement: one round of decisions, 10,000 VMs, 100,000 clients, k=16 fat-tree"
TIMES: dict[tuple[str, str], float] = {}
PEER = "pure Python + networkx"
VMS, CLIENTS, THRESHOLD = 10_000, 100_000, 0.2

needs_c = pytest.mark.skipif(not native_available(), reason="the C fast path is not built")


@dataclass
class Scene:
    topo: Topology
    vms: dict[str, Placed]
    attached: dict[str, tuple[str, ...]]


def scene(settled: float, seed: int = 15) -> Scene:
    """Each VM's 10 clients mostly in one pod (7 of 10, at its edge switches: players
    near each other), the rest anywhere, each sending 1-50 packets/s to it. A `settled`
    share of the VMs is where the engine would have put them (the best edge switch for
    its clients); the others at a random hypervisor (their clients have just moved)."""
    topo = parse_topology(fat_tree_yaml(16, 2), addresses=False)
    rnd = random.Random(seed)
    hyps = sorted(topo.hypervisors)
    edges = sorted({h.attach.switch for h in topo.hypervisors.values()})
    on_edge: dict[str, list[str]] = {}
    for h in hyps:
        on_edge.setdefault(topo.hypervisors[h].attach.switch, []).append(h)
    pods: dict[str, list[str]] = {}
    for e in edges:
        pods.setdefault(e.split("e")[0], []).append(e)
    pod_names = sorted(pods)
    dist = networkx_dist(topo)
    vms: dict[str, Placed] = {}
    attached: dict[str, list[str]] = {}
    per_vm = CLIENTS // VMS
    for i in range(VMS):
        home = pods[pod_names[rnd.randrange(len(pod_names))]]
        demand: dict[str, float] = {}
        for c in range(per_vm):
            sw = home[rnd.randrange(len(home))] if c < 7 else edges[rnd.randrange(len(edges))]
            demand[sw] = demand.get(sw, 0.0) + float(rnd.randint(1, 50))
            attached.setdefault(sw, []).append(f"c{i}-{c}")
        if rnd.random() < settled:
            best = min(edges, key=lambda e: (sum(r * dist[sw][e] for sw, r in demand.items()),
                                             e))
            h = on_edge[best][rnd.randrange(len(on_edge[best]))]
        else:
            h = hyps[rnd.randrange(len(hyps))]
        vms[f"vm{i}"] = Placed(f"vm{i}", h, topo.hypervisors[h].attach.switch, 0.0, 0,
                               None, demand)
    return Scene(topo, vms, {sw: tuple(v) for sw, v in attached.items()})


def networkx_dist(topo: Topology) -> dict[str, dict[str, int]]:
    g = nx.Graph([(x.a.switch, x.b.switch) for x in topo.links])
    return {a: dict(d) for a, d in nx.all_pairs_shortest_path_length(g)}


SCENES = {"steady (90 % placed)": scene(0.9), "worst (all at random)": scene(0.0)}


def c_engine(sc: Scene) -> tuple[PlacementEngine, World]:
    fabric = Fabric(sc.topo)
    targets = {h.name: Target(h.name, h.attach.switch, "default")
               for h in sc.topo.hypervisors.values()}
    engine = PlacementEngine([FollowClients()], targets, Limits(), actuate=False)
    policy = Policy("follow-clients", {"threshold": THRESHOLD, "dwell": 0.0})
    engine.policies = {vm: policy for vm in sc.vms}   # 10,000 checked alike: set once
    return engine, World(sc.vms, sc.attached, fabric.links, fabric.best)


def python_decide(sc: Scene, dist: Mapping[str, Mapping[str, int]], candidates: list[str]
                  ) -> dict[str, str | None]:
    """The peer: per VM, the cost at every candidate switch in plain Python, the best, the
    threshold; the target switch, or None to stay."""
    out: dict[str, str | None] = {}
    for name, vm in sc.vms.items():
        if sum(vm.demand.values()) < 1.0:
            out[name] = None
            continue
        rows = [(sw, dist[sw]) for sw in vm.demand]
        costs = {c: sum(rate * row[c] for (sw, row), rate in
                        zip(rows, vm.demand.values(), strict=True)) for c in candidates}
        best = min(candidates, key=lambda c: (costs[c], c))
        here = sum(rate * dist[sw][vm.switch] for sw, rate in vm.demand.items())
        moves = costs[best] < here and (here - costs[best]) / here >= THRESHOLD
        out[name] = best if moves else None
    return out


def outcome(d: Decision, topo: Topology) -> str | None:
    if d.verdict is Verdict.ADVISE and d.to is not None:
        return topo.hypervisors[d.to].attach.switch
    return None


def _record(case: str, who: str, seconds: float) -> None:
    TIMES[case, who] = seconds
    lines = []
    for (c, name), t in TIMES.items():
        peer = TIMES.get((c, PEER))
        ratio = f"   the peer / this: x{peer / t:,.0f}" if peer and name != PEER else ""
        lines.append(f"      {c:<40} {name:<24} {t * 1e3:>10,.1f} ms{ratio}")
    RATIOS[TITLE] = lines


@needs_c
@pytest.mark.parametrize("case", list(SCENES))
def test_decide_c(benchmark: Any, case: str) -> None:
    sc = SCENES[case]
    engine, world = c_engine(sc)
    first = engine.decide(world, 1.0)
    assert len(first) == VMS
    candidates = sorted({h.attach.switch for h in sc.topo.hypervisors.values()})
    peer = python_decide(sc, networkx_dist(sc.topo), candidates)
    got = {d.vm: outcome(d, sc.topo) for d in first}
    assert got == peer
    movers = sum(1 for v in got.values() if v is not None)
    assert 0 < movers < VMS
    benchmark.pedantic(lambda: engine.decide(world, 2.0), rounds=9, iterations=1,
                       warmup_rounds=1)
    _record(f"{case} ({movers:,} move)", "engine (C kernel)", benchmark.stats.stats.median)


@pytest.mark.parametrize("case", list(SCENES))
def test_decide_python_networkx(benchmark: Any, case: str) -> None:
    sc = SCENES[case]
    dist = networkx_dist(sc.topo)
    candidates = sorted({h.attach.switch for h in sc.topo.hypervisors.values()})
    got = benchmark.pedantic(lambda: python_decide(sc, dist, candidates), rounds=2,
                             iterations=1)
    movers = sum(1 for v in got.values() if v is not None)
    _record(f"{case} ({movers:,} move)", PEER, benchmark.stats.stats.median)
