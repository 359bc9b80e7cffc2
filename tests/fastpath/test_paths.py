"""The path engine: C equals the Python reference array for array, both equal networkx
(distances and equal-cost next hops) on random graphs and fat-trees, and the repair
after a link goes down or up equals a recompute from scratch."""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctrl.fastpath import (
    INF,
    Backend,
    Graph,
    GraphError,
    LinkStateError,
    PathEngine,
    native_available,
    shortest_paths,
)
from ctrl.fastpath.topologies import fat_tree, random_graph

needs_c = pytest.mark.skipif(not native_available(), reason="the C fast path is not built here")
BACKENDS = [pytest.param(Backend.NATIVE, marks=needs_c), Backend.REFERENCE]


@st.composite
def graphs(draw: st.DrawFn, max_n: int = 14) -> tuple[int, list[tuple[int, int]], list[int] | None]:
    """Small graphs, often disconnected, with parallel links, weighted or not."""
    n = draw(st.integers(1, max_n))
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] != p[1])
    links = draw(st.lists(pairs, max_size=3 * n)) if n > 1 else []
    weights = draw(st.none() | st.lists(st.integers(1, 5), min_size=len(links),
                                         max_size=len(links)))
    return n, links, weights


def to_networkx(g: Graph, down: Sequence[int] = ()) -> nx.Graph:
    """The up links as a simple graph; parallel links keep their lightest weight."""
    out = nx.Graph()
    out.add_nodes_from(range(g.n))
    for link in range(g.nlinks):
        if link in down:
            continue
        u, v = g.link_ends(link)
        w = g.weight(link)
        if not out.has_edge(u, v) or out[u][v]["weight"] > w:
            out.add_edge(u, v, weight=w)
    return out


def networkx_tree(nxg: nx.Graph, dest: int, weighted: bool
                  ) -> tuple[dict[int, int], dict[int, set[int]]]:
    """Distances to dest and, per node, the neighbours that start a shortest path."""
    if weighted:
        pred, dist = nx.dijkstra_predecessor_and_distance(nxg, dest)
    else:
        pred, dist = nx.predecessor(nxg, dest, return_seen=True)
    return dict(dist), {u: set(p) for u, p in pred.items()}


def assert_equals_networkx(g: Graph, engine: PathEngine, down: Sequence[int] = ()) -> None:
    nxg = to_networkx(g, down)
    for dest in engine.dests:
        dist, pred = networkx_tree(nxg, dest, g.weighted)
        for u in range(g.n):
            assert engine.distance(u, dest) == dist.get(u), (u, dest)
            assert set(engine.next_hops(u, dest)) == pred.get(u, set()), (u, dest)


# C == reference, and both == networkx


@needs_c
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), st.data())
def test_c_equals_reference_and_networkx(spec: tuple[int, list[tuple[int, int]], list[int] | None],
                                         data: st.DataObject) -> None:
    n, links, weights = spec
    g = Graph(n, links, weights)
    down = data.draw(st.sets(st.integers(0, max(0, len(links) - 1)), max_size=len(links) // 3)
                     if links else st.just(set()))
    c = PathEngine(g, down=down, backend=Backend.NATIVE)
    ref = PathEngine(g, down=down, backend=Backend.REFERENCE)
    assert c.dist == ref.dist and c.nh == ref.nh
    assert_equals_networkx(g, c, sorted(down))
    dest = data.draw(st.integers(0, n - 1))
    tree_c = shortest_paths(g, dest, down=down, backend=Backend.NATIVE)
    tree_ref = shortest_paths(g, dest, down=down, backend=Backend.REFERENCE)
    assert tree_c.dist == tree_ref.dist and tree_c.nh == tree_ref.nh
    assert tree_c == c.tree(dest)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k", [4, 8])
def test_fat_tree_equals_networkx(backend: Backend, k: int) -> None:
    g = fat_tree(k)
    assert (g.n, g.nlinks) == (5 * k * k // 4, k ** 3 // 2)
    engine = PathEngine(g, backend=backend)
    assert_equals_networkx(g, engine)
    # Edge switch 0 (pod 0) to an edge switch of another pod: 4 hops, k/2 uplinks, all used.
    far_edge = k * k // 2 - 1
    assert engine.distance(0, far_edge) == 4
    assert len(engine.next_hops(0, far_edge)) == k // 2


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_random_graph_equals_networkx(backend: Backend, weighted: bool) -> None:
    g = random_graph(300, 900, seed=7, weighted=weighted)
    engine = PathEngine(g, dests=range(0, 300, 7), backend=backend)
    assert_equals_networkx(g, engine)


# Repair after a link goes down or up == recompute from scratch


def _rows(engine: PathEngine, k: int) -> tuple[object, object]:
    n, w = engine.graph.n, engine.graph.words
    return engine.dist[k * n:(k + 1) * n], engine.nh[k * w:(k + 1) * w]


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), st.lists(st.integers(0, 10_000), max_size=25), st.data())
def test_repair_equals_recompute(backend: Backend,
                                 spec: tuple[int, list[tuple[int, int]], list[int] | None],
                                 flips: list[int], data: st.DataObject) -> None:
    n, links, weights = spec
    g = Graph(n, links, weights)
    dests = data.draw(st.none() | st.lists(st.integers(0, n - 1), unique=True))
    engine = PathEngine(g, dests, backend=backend)
    for flip in flips if links else []:
        link = flip % len(links)
        before = [_rows(engine, k) for k in range(len(engine.dests))]
        changed = engine.set_link(link, not engine.is_up(link))
        fresh = PathEngine(g, dests, down=[i for i in range(len(links)) if not engine.is_up(i)],
                           backend=backend)
        assert engine.dist == fresh.dist and engine.nh == fresh.nh
        # Exactly the destinations whose rows differ are reported, and only they changed.
        differs = [d for k, d in enumerate(engine.dests) if _rows(engine, k) != before[k]]
        assert list(changed) == differs


@needs_c
@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), st.lists(st.integers(0, 10_000), max_size=20))
def test_c_and_reference_repair_alike(spec: tuple[int, list[tuple[int, int]], list[int] | None],
                                      flips: list[int]) -> None:
    n, links, weights = spec
    g = Graph(n, links, weights)
    c, ref = PathEngine(g, backend=Backend.NATIVE), PathEngine(g, backend=Backend.REFERENCE)
    for flip in flips if links else []:
        link = flip % len(links)
        up = not c.is_up(link)
        assert c.set_link(link, up) == ref.set_link(link, up)
        assert c.dist == ref.dist and c.nh == ref.nh


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_link_failure_touches_only_the_destinations_it_must(backend: Backend) -> None:
    # A triangle 0-1-2 with 3 hanging off 2: no shortest path toward 2 or 3 crosses 0-1.
    g = Graph(4, [(0, 1), (1, 2), (2, 0), (2, 3)])
    engine = PathEngine(g, backend=backend)
    toward_3 = engine.tree(3)
    assert engine.link_down(0) == (0, 1)
    assert engine.tree(3) == toward_3
    assert engine.next_hops(0, 1) == (2,) and engine.distance(0, 1) == 2
    assert engine.link_up(0) == (0, 1)
    assert engine.next_hops(0, 1) == (1,)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_fat_tree_link_failure(backend: Backend) -> None:
    k = 4
    g = fat_tree(k)
    engine = PathEngine(g, backend=backend)
    edge0, agg0 = g.link_ends(0)  # edge 0 and aggregation 0 of pod 0
    changed = engine.link_down(0)
    assert edge0 in changed and agg0 in changed
    assert engine.distance(edge0, agg0) == 3  # up to another aggregation, down, up
    other_aggs = {g.link_ends(a)[1] for a in range(1, k // 2)}
    assert set(engine.next_hops(edge0, agg0)) == other_aggs
    assert_equals_networkx(g, engine, down=[0])
    assert engine.link_up(0) == changed
    assert_equals_networkx(g, engine)


@pytest.mark.parametrize("backend", BACKENDS)
def test_partition_and_heal(backend: Backend) -> None:
    g = Graph(4, [(0, 1), (1, 2), (2, 3)])
    engine = PathEngine(g, backend=backend)
    assert engine.link_down(1) == (0, 1, 2, 3)
    assert engine.distance(0, 3) is None and engine.next_hops(0, 3) == ()
    assert engine.dist[3 * 4 + 0] == INF
    assert engine.link_up(1) == (0, 1, 2, 3)
    assert engine.distance(0, 3) == 3 and engine.next_hops(0, 3) == (1,)


@pytest.mark.parametrize("backend", BACKENDS)
def test_weights_and_parallel_links(backend: Backend) -> None:
    # Two parallel links 0-1 (weights 1 and 1) and a detour 0-2-1 of weight 2.
    g = Graph(3, [(0, 1), (0, 1), (0, 2), (2, 1)], weights=[1, 1, 1, 1], backend=backend)
    tree = shortest_paths(g, 1, backend=backend)
    assert tree.distance(0) == 1
    assert tree.next_hop_links(0) == (0, 1) and tree.next_hops(0) == (1, 1)
    engine = PathEngine(g, backend=backend)
    assert engine.link_down(0) == (0, 1)      # ECMP shrinks, no distance changes
    assert engine.next_hop_links(0, 1) == (1,)
    assert engine.link_down(1) == (0, 1)      # now the detour
    assert engine.distance(0, 1) == 2 and engine.next_hops(0, 1) == (2,)


# Arguments


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_graphs_and_calls_raise(backend: Backend) -> None:
    with pytest.raises(GraphError, match="self loop"):
        Graph(3, [(0, 1), (2, 2)], backend=backend)
    with pytest.raises(GraphError, match="outside"):
        Graph(3, [(0, 3)], backend=backend)
    with pytest.raises(GraphError, match="2 weights for 1 links"):
        Graph(3, [(0, 1)], [1, 2], backend=backend)
    with pytest.raises(GraphError, match="from 1 up"):
        Graph(3, [(0, 1)], [0], backend=backend)
    with pytest.raises(GraphError, match="add up"):
        Graph(3, [(0, 1), (1, 2)], [2**31, 2**31], backend=backend)
    g = Graph(3, [(0, 1), (1, 2)], backend=backend)
    with pytest.raises(GraphError, match="node 3"):
        shortest_paths(g, 3, backend=backend)
    with pytest.raises(GraphError, match="link 2"):
        shortest_paths(g, 0, down=[2], backend=backend)
    engine = PathEngine(g, dests=[2], backend=backend)
    with pytest.raises(LinkStateError, match="already up"):
        engine.link_up(0)
    with pytest.raises(GraphError, match="not a destination"):
        engine.next_hops(0, 1)
    with pytest.raises(GraphError, match="twice"):
        PathEngine(g, dests=[1, 1], backend=backend)
    with pytest.raises(ValueError):  # GraphError is a ValueError
        engine.distance(5, 2)


@needs_c
@pytest.mark.parametrize("k", [4, 6])
def test_c_and_python_build_the_same_arrays(k: int) -> None:
    c, ref = fat_tree(k, backend=Backend.NATIVE), fat_tree(k, backend=Backend.REFERENCE)
    assert (c.row, c.head, c.arc_link, c.link_arcs) == (
        ref.row, ref.head, ref.arc_link, ref.link_arcs)
