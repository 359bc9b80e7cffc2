"""The path engine in pure Python: the reference the C engine (ext/fp_paths.c) equals.

Same arrays in, same arrays out: `dist` (array "I", FP_INF for no path) and
`nh` (array "Q", one bit per arc) for each destination, laid out as the C code
lays them out. paths.py calls these where the C module is not built.
"""

from __future__ import annotations

import heapq
from array import array
from collections import deque

from ctrl.fastpath.graph import INF, Graph


def _weight(g: Graph, link: int) -> int:
    return 1 if g.weights is None else g.weights[link]


def _distances(g: Graph, up: bytearray, dest: int) -> list[int]:
    dist = [INF] * g.n
    dist[dest] = 0
    row, head, arc_link = g.row, g.head, g.arc_link
    if g.weights is None:
        queue = deque([dest])
        while queue:
            u = queue.popleft()
            for a in range(row[u], row[u + 1]):
                v = head[a]
                if dist[v] == INF and up[arc_link[a]]:
                    dist[v] = dist[u] + 1
                    queue.append(v)
        return dist
    weights, done = g.weights, [False] * g.n
    heap = [(0, dest)]
    while heap:
        du, u = heapq.heappop(heap)
        if done[u]:
            continue
        done[u] = True
        for a in range(row[u], row[u + 1]):
            link, v = arc_link[a], head[a]
            if up[link] and du + weights[link] < dist[v]:
                dist[v] = du + weights[link]
                heapq.heappush(heap, (dist[v], v))
    return dist


def _tree_into(g: Graph, up: bytearray, dest: int, dist: array[int], nh: array[int],
               dbase: int, nbase: int) -> None:
    d = _distances(g, up, dest)
    dist[dbase:dbase + g.n] = array("I", d)
    words = [0] * g.words
    row, head, arc_link = g.row, g.head, g.arc_link
    for u in range(g.n):
        if d[u] == INF or u == dest:
            continue
        for a in range(row[u], row[u + 1]):
            link, v = arc_link[a], head[a]
            if up[link] and d[v] != INF and d[v] + _weight(g, link) == d[u]:
                words[a >> 6] |= 1 << (a & 63)
    nh[nbase:nbase + g.words] = array("Q", words)


def tree(g: Graph, up: bytearray, dest: int, dist: array[int], nh: array[int]) -> None:
    """fp_tree(): dist (n) and nh (g.words) toward `dest`."""
    _tree_into(g, up, dest, dist, nh, 0, 0)


def routes(g: Graph, up: bytearray, dests: array[int], dist: array[int], nh: array[int]
           ) -> None:
    """fp_routes_compute(): the table of every destination in `dests`."""
    for k, dest in enumerate(dests):
        _tree_into(g, up, dest, dist, nh, k * g.n, k * g.words)


def _bit(nh: array[int], base: int, arc: int) -> bool:
    return bool(nh[base + (arc >> 6)] >> (arc & 63) & 1)


def _set_bit(nh: array[int], base: int, arc: int, value: bool) -> None:
    mask = 1 << (arc & 63)
    word = base + (arc >> 6)
    nh[word] = nh[word] | mask if value else nh[word] & ~mask


def set_link(g: Graph, up: bytearray, link: int, value: bool, dests: array[int],
             dist: array[int], nh: array[int]) -> list[int]:
    """fp_routes_set_link(): `up[link] = value` and the table repaired; the indexes
    (into dests) of the destinations that changed. The caller checks the state."""
    up[link] = int(value)
    arcs = (g.link_arcs[2 * link], g.link_arcs[2 * link + 1])
    changed = []
    for k, dest in enumerate(dests):
        dbase, nbase = k * g.n, k * g.words
        hit = (_repair_up(g, up, link, arcs, dest, dist, nh, dbase, nbase) if value
               else _repair_down(g, up, arcs, dest, dist, nh, dbase, nbase))
        if hit:
            changed.append(k)
    return changed


def _repair_down(g: Graph, up: bytearray, arcs: tuple[int, int], dest: int, dist: array[int],
                 nh: array[int], dbase: int, nbase: int) -> bool:
    for side in (0, 1):
        a = arcs[side]
        if not _bit(nh, nbase, a):
            continue
        _set_bit(nh, nbase, a, False)
        u = g.head[arcs[1 - side]]
        if not any(_bit(nh, nbase, b) for b in range(g.row[u], g.row[u + 1])):
            _tree_into(g, up, dest, dist, nh, dbase, nbase)
        return True
    return False


def _repair_up(g: Graph, up: bytearray, link: int, arcs: tuple[int, int], dest: int,
               dist: array[int], nh: array[int], dbase: int, nbase: int) -> bool:
    w = _weight(g, link)
    joined = False
    for side in (0, 1):
        a = arcs[side]
        u, v = g.head[arcs[1 - side]], g.head[a]
        if dist[dbase + v] == INF:
            continue
        via = dist[dbase + v] + w
        if via < dist[dbase + u]:
            _tree_into(g, up, dest, dist, nh, dbase, nbase)
            return True
        if via == dist[dbase + u]:
            _set_bit(nh, nbase, a, True)
            joined = True
    return joined
