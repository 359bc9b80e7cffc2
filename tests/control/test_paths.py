"""The switches' next hops on the C path engine, against networkx, through link changes."""

from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrl.control.paths import SwitchPaths
from ctrl.control.topology import Link, PortRef


def check(paths: SwitchPaths, links: list[Link]) -> None:
    g = nx.Graph()
    g.add_nodes_from(paths.names)
    g.add_edges_from((x.a.switch, x.b.switch) for x in links if x not in paths.down)
    for dest in paths.names:
        dist = nx.single_source_shortest_path_length(g, dest)
        hops = paths.next_hops(dest)
        assert set(hops) == set(dist) - {dest}
        for node, nxt in hops.items():
            assert g.has_edge(node, nxt) and dist[nxt] == dist[node] - 1
            ties = [n for n in g.neighbors(node) if dist.get(n) == dist[node] - 1]
            assert nxt == min(ties)   # the first name among equal-cost next hops


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 12).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(
        lambda e: e[0] != e[1]), max_size=3 * n),
    st.lists(st.booleans(), min_size=3 * n, max_size=3 * n))))
def test_equal_to_networkx_through_link_changes(
        case: tuple[int, list[tuple[int, int]], list[bool]]) -> None:
    n, edges, downs = case
    links = [Link(PortRef(f"s{a}", i + 1), PortRef(f"s{b}", i + 100))
             for i, (a, b) in enumerate(edges)]
    paths = SwitchPaths([f"s{i}" for i in range(n)], links)
    check(paths, links)
    down = {x for x, d in zip(links, downs, strict=False) if d}
    changed = paths.set_down(down)
    check(paths, links)
    assert set(changed) <= set(paths.names)
    paths.set_down(set())
    check(paths, links)


def test_only_touched_destinations_change() -> None:
    # a line s0 - s1 - s2 and a spur s1 - s3: cutting s1-s3 changes nothing toward s0..s2's
    # trees except through s3 itself
    refs = [("s0", "s1"), ("s1", "s2"), ("s1", "s3")]
    links = [Link(PortRef(a, 1), PortRef(b, 2)) for a, b in refs]
    paths = SwitchPaths(["s0", "s1", "s2", "s3"], links)
    assert paths.next_hops("s3") == {"s0": "s1", "s1": "s3", "s2": "s1"}
    changed = paths.set_down({links[2]})
    assert "s3" in changed
    assert paths.next_hops("s3") == {}
    assert paths.next_hops("s0") == {"s1": "s0", "s2": "s1"}
