"""Path computation: the C path engine next to networkx on the same graphs, in the same
run, with equal results. Goal (issue 6): C >= 100x networkx.

Graphs: a k=16 fat-tree (320 switches, 2,048 links) and connected random graphs of
1,000 nodes / 3,000 links and 10,000 nodes / 30,000 links (a random spanning tree
plus random links; ctrl/fastpath/topologies.py), by hop count, and the 1,000-node
one with weights 1..10.

- tree: distances toward one destination and every node's equal-cost next hops
  (C: shortest_paths(), one call per tree; networkx: predecessor(...,
  return_seen=True), or dijkstra_predecessor_and_distance() with weights: the
  same two answers). "C, 64 per call" is PathEngine over 64 destinations, per
  tree: by hop count one breadth-first search serves all 64 (a bit each per
  node); it is compared with networkx's time per tree.
- all pairs: that for every destination of the fat-tree (C: PathEngine).
- link down + up: the fat-tree's all-pairs table repaired after a link fails and
  again when it comes back (C: PathEngine.set_link, which touches only the
  destinations the link matters to), next to recomputing it from scratch, in C
  and in networkx (which has no incremental update).

Times are medians; the summary prints the ratios. Before timing, each C answer is
checked equal to networkx's (distances and next-hop sets). Nothing about time is
asserted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import networkx as nx
import pytest

from bench.conftest import RATIOS
from ctrl.fastpath import Backend, Graph, PathEngine, native_available, shortest_paths
from ctrl.fastpath.topologies import fat_tree, random_graph

TITLE = "paths: C next to networkx (median per computation)"
TIMES: dict[str, dict[str, float]] = {}   # case -> {"C": s, "networkx": s, ...}
DESTS = 8          # trees per round
BATCH = 64         # trees per call in "C, 64 per call"
FLIPS = 16         # links taken down and up again per round

needs_c = pytest.mark.skipif(not native_available(), reason="the C fast path is not built")


def _graphs() -> dict[str, Graph]:
    backend = Backend.NATIVE if native_available() else Backend.REFERENCE
    return {
        "fat-tree k=16 (320)": fat_tree(16, backend=backend),
        "random 1,000": random_graph(1_000, 3_000, seed=1, backend=backend),
        "random 1,000 weighted": random_graph(1_000, 3_000, seed=1, weighted=True,
                                              backend=backend),
        "random 10,000": random_graph(10_000, 30_000, seed=2, backend=backend),
    }


GRAPHS = _graphs()


def to_networkx(g: Graph) -> nx.Graph:
    out = nx.Graph()
    out.add_nodes_from(range(g.n))
    for link in range(g.nlinks):
        u, v = g.link_ends(link)
        out.add_edge(u, v, weight=g.weight(link))
    return out


NX = {name: to_networkx(g) for name, g in GRAPHS.items()}


def nx_tree(nxg: nx.Graph, dest: int, weighted: bool) -> tuple[Any, Any]:
    """networkx's next hops (predecessors from dest) and distances."""
    if weighted:
        pred, dist = nx.dijkstra_predecessor_and_distance(nxg, dest)
    else:
        pred, dist = nx.predecessor(nxg, dest, return_seen=True)
    return pred, dist


def dests(g: Graph) -> list[int]:
    return [(i * 7919) % g.n for i in range(DESTS)]


def _record(case: str, who: str, seconds: float) -> None:
    TIMES.setdefault(case, {})[who] = seconds
    lines = []
    for name, times in TIMES.items():
        lines.append(f"  {name}")
        theirs = times.get("networkx")
        for who, t in times.items():
            ratio = f"   networkx / this: x{theirs / t:,.0f}" if theirs and who != "networkx" \
                else ""
            lines.append(f"      {who:<16} {t * 1e3:>10,.3f} ms{ratio}")
    RATIOS[TITLE] = lines


def _same_as_networkx(g: Graph, nxg: nx.Graph, dest: int) -> None:
    tree = shortest_paths(g, dest, backend=Backend.NATIVE)
    pred, dist = nx_tree(nxg, dest, g.weighted)
    for u in range(g.n):
        assert tree.distance(u) == dist.get(u)
        assert set(tree.next_hops(u)) == set(pred.get(u, ()))


@needs_c
@pytest.mark.parametrize("name", list(GRAPHS))
def test_tree_c(benchmark: Any, name: str) -> None:
    g = GRAPHS[name]
    _same_as_networkx(g, NX[name], dests(g)[1])

    def run() -> None:
        for d in dests(g):
            shortest_paths(g, d, backend=Backend.NATIVE)

    benchmark.pedantic(run, rounds=7, iterations=1, warmup_rounds=1)
    _record(f"tree, {name}", "C", benchmark.stats.stats.median / DESTS)


@needs_c
@pytest.mark.parametrize("name", list(GRAPHS))
def test_trees_c_batch(benchmark: Any, name: str) -> None:
    g = GRAPHS[name]
    batch = [(i * 7919) % g.n for i in range(BATCH)]
    engine = benchmark.pedantic(lambda: PathEngine(g, batch, backend=Backend.NATIVE), rounds=7,
                                iterations=1, warmup_rounds=1)
    nxg = NX[name]
    for dest in batch[:3]:
        pred, dist = nx_tree(nxg, dest, g.weighted)
        assert all(engine.distance(u, dest) == dist.get(u) for u in range(g.n))
        assert all(set(engine.next_hops(u, dest)) == set(pred.get(u, ())) for u in range(g.n))
    _record(f"tree, {name}", "C, 64 per call", benchmark.stats.stats.median / BATCH)


@pytest.mark.parametrize("name", list(GRAPHS))
def test_tree_networkx(benchmark: Any, name: str) -> None:
    g, nxg = GRAPHS[name], NX[name]

    def run() -> None:
        for d in dests(g):
            nx_tree(nxg, d, g.weighted)

    benchmark.pedantic(run, rounds=2 if g.n > 5_000 else 3, iterations=1)
    _record(f"tree, {name}", "networkx", benchmark.stats.stats.median / DESTS)


FAT = "fat-tree k=16 (320)"


@needs_c
def test_all_pairs_c(benchmark: Any) -> None:
    g = GRAPHS[FAT]
    engine = benchmark.pedantic(lambda: PathEngine(g, backend=Backend.NATIVE), rounds=7,
                                iterations=1, warmup_rounds=1)
    nxg = NX[FAT]
    for dest in (0, 200, 319):
        pred, dist = nx_tree(nxg, dest, False)
        assert [engine.distance(u, dest) for u in range(g.n)] == [dist[u] for u in range(g.n)]
        assert all(set(engine.next_hops(u, dest)) == set(pred[u]) for u in range(g.n))
    _record(f"all pairs, {FAT}", "C", benchmark.stats.stats.median)


def test_all_pairs_networkx(benchmark: Any) -> None:
    nxg = NX[FAT]
    benchmark.pedantic(lambda: [nx_tree(nxg, d, False) for d in nxg], rounds=3, iterations=1)
    _record(f"all pairs, {FAT}", "networkx", benchmark.stats.stats.median)


def _flip_links(g: Graph) -> list[int]:
    """Edge-aggregation and aggregation-core links, alternately."""
    return [(i * 131) % g.nlinks for i in range(FLIPS)]


@needs_c
@pytest.mark.parametrize("how", ["repair", "recompute"])
def test_link_down_up_c(benchmark: Any, how: str) -> None:
    g = GRAPHS[FAT]
    engine = PathEngine(g, backend=Backend.NATIVE)
    links = _flip_links(g)

    def repair() -> None:
        for link in links:
            engine.set_link(link, False)
            engine.set_link(link, True)

    def recompute() -> None:
        for link in links:
            engine.up[link] = 0
            engine.recompute()
            engine.up[link] = 1
            engine.recompute()

    run: Callable[[], None] = repair if how == "repair" else recompute
    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    fresh = PathEngine(g, backend=Backend.NATIVE)
    assert engine.dist == fresh.dist and engine.nh == fresh.nh
    who = "C" if how == "repair" else "C from scratch"
    _record(f"link down + up, all pairs, {FAT}", who, benchmark.stats.stats.median / (2 * FLIPS))


def test_link_down_up_networkx(benchmark: Any) -> None:
    g, nxg = GRAPHS[FAT], NX[FAT]
    link = _flip_links(g)[1]
    u, v = g.link_ends(link)

    def run() -> None:  # one failure: take the link out and recompute every destination
        nxg.remove_edge(u, v)
        for d in nxg:
            nx_tree(nxg, d, False)
        nxg.add_edge(u, v, weight=1)

    benchmark.pedantic(run, rounds=3, iterations=1)
    _record(f"link down + up, all pairs, {FAT}", "networkx", benchmark.stats.stats.median)
