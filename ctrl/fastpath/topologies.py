"""Switch graphs to test and benchmark the path engine on: fat-trees and random graphs."""

from __future__ import annotations

import random

from ctrl.fastpath.errors import GraphError
from ctrl.fastpath.graph import Graph
from ctrl.fastpath.native import Backend


def fat_tree_links(k: int) -> list[tuple[int, int]]:
    """The links of a k-ary fat-tree's switches (Al-Fares et al., 2008).

    Nodes: edge switches 0 .. k*k/2 - 1 (pod by pod), then the aggregation
    switches (pod by pod), then the (k/2)^2 core switches: 5k^2/4 in all. Links:
    each pod's edge-aggregation mesh, pod by pod, then aggregation i of each pod
    to core switches i*k/2 .. i*k/2 + k/2 - 1. Link 0 joins edge 0 and
    aggregation 0 of pod 0.
    """
    if k < 2 or k % 2:
        raise GraphError(f"a fat-tree needs an even k >= 2, not {k}")
    half = k // 2

    def edge(pod: int, i: int) -> int:
        return pod * half + i

    def agg(pod: int, i: int) -> int:
        return k * half + pod * half + i

    core0 = k * k
    links = [(edge(p, e), agg(p, a)) for p in range(k) for e in range(half) for a in range(half)]
    links += [(agg(p, a), core0 + a * half + c) for p in range(k) for a in range(half)
              for c in range(half)]
    return links


def fat_tree(k: int, *, backend: Backend = Backend.AUTO) -> Graph:
    """A k-ary fat-tree (hop count): k=16 has 320 switches and 2,048 links."""
    return Graph(5 * k * k // 4, fat_tree_links(k), backend=backend)


def random_links(n: int, m: int, seed: int) -> list[tuple[int, int]]:
    """m distinct links on n nodes, connected: a random spanning tree, then random links."""
    if n < 2 or not n - 1 <= m <= n * (n - 1) // 2:
        raise GraphError(f"no connected simple graph with {n} nodes and {m} links")
    rnd = random.Random(seed)
    order = list(range(n))
    rnd.shuffle(order)
    links = [(order[i], order[rnd.randrange(i)]) for i in range(1, n)]
    seen = {frozenset(link) for link in links}
    while len(links) < m:
        u, v = rnd.randrange(n), rnd.randrange(n)
        if u != v and frozenset((u, v)) not in seen:
            seen.add(frozenset((u, v)))
            links.append((u, v))
    return links


def random_graph(n: int, m: int, *, seed: int = 1, weighted: bool = False,
                 backend: Backend = Backend.AUTO) -> Graph:
    """A connected random graph of n nodes and m links; weights 1..10 if weighted."""
    links = random_links(n, m, seed)
    weights = None
    if weighted:
        rnd = random.Random(seed + 1)
        weights = [rnd.randint(1, 10) for _ in links]
    return Graph(n, links, weights, backend=backend)
