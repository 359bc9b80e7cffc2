"""Next hops toward destinations on the switch graph: the C path engine behind typed wrappers.

    g = Graph(4, [(0, 1), (1, 2), (2, 3), (0, 3)])
    shortest_paths(g, dest=2).next_hops(0)    # (1, 3): two equal-cost next hops
    engine = PathEngine(g)                    # next hops toward every node
    engine.set_link(1, up=False)              # destinations whose routes changed: (0, 1, 2)
    engine.next_hops(1, dest=2)               # (0,)

Distances are hop counts, or sums of link weights when the Graph has weights.
A node's next hops toward a destination are the neighbours across its up links
that start a shortest path: equal-cost multipath. Without the C module the
Python reference (paths_ref.py) gives the same arrays.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ctrl.fastpath import paths_ref
from ctrl.fastpath.errors import GraphError, LinkStateError, NativeError
from ctrl.fastpath.graph import INF, Graph
from ctrl.fastpath.native import Backend, Native, select


@dataclass(frozen=True, slots=True, eq=False)
class Tree:
    """Distances and next hops of every node toward one destination."""

    graph: Graph
    dest: int
    dist: array[int]   # per node; INF: no path
    nh: array[int]     # one bit per arc: the arc starts a shortest path

    def distance(self, node: int) -> int | None:
        self.graph.check_node(node)
        d = self.dist[node]
        return None if d == INF else d

    def next_hop_arcs(self, node: int) -> tuple[int, ...]:
        nh = self.nh
        return tuple(a for a in self.graph.arcs(node) if nh[a >> 6] >> (a & 63) & 1)

    def next_hops(self, node: int) -> tuple[int, ...]:
        """The neighbours to forward to, in link order (one per link: parallel links repeat)."""
        return tuple(self.graph.head[a] for a in self.next_hop_arcs(node))

    def next_hop_links(self, node: int) -> tuple[int, ...]:
        return tuple(self.graph.arc_link[a] for a in self.next_hop_arcs(node))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tree):
            return NotImplemented
        return (self.graph is other.graph and self.dest == other.dest
                and self.dist == other.dist and self.nh == other.nh)

    __hash__ = None  # type: ignore[assignment]


def shortest_paths(graph: Graph, dest: int, *, down: Iterable[int] = (),
                   backend: Backend = Backend.AUTO) -> Tree:
    """Single-source shortest paths from `dest`, read as next hops toward it, with
    the links in `down` taken out."""
    graph.check_node(dest)
    down = tuple(down)
    up = _up_flags(graph, down)
    dist = _Z32 * graph.n
    nh = _Z64 * graph.words
    native = select(backend)
    if native is None:
        paths_ref.tree(graph, up, dest, dist, nh)
    else:
        ffi = native.ffi
        cg = _c_view(native, graph)   # every link up: no up flags to read
        if down:
            cg = ffi.new("fp_graph *", cg[0])
            up_flags = ffi.from_buffer("uint8_t[]", up, require_writable=True)
            cg.up = up_flags
        _check(native.lib.fp_tree(cg, dest, _u32(native, dist), _u64(native, nh),
                                  _u32(native, _work(native, graph))), "fp_tree")
    return Tree(graph, dest, dist, nh)


class PathEngine:
    """Next hops of every node toward each of `dests` (all nodes by default: all
    pairs), kept up to date as links go down and come up."""

    __slots__ = ("_c", "_c_up", "_index", "_native", "dests", "dist", "graph", "nh", "up")

    def __init__(self, graph: Graph, dests: Sequence[int] | None = None, *,
                 down: Iterable[int] = (), backend: Backend = Backend.AUTO) -> None:
        self.graph = graph
        self.dests = array("I", range(graph.n) if dests is None else dests)
        for d in self.dests:
            graph.check_node(d)
        self._index = {d: k for k, d in enumerate(self.dests)}
        if len(self._index) != len(self.dests):
            raise GraphError("a destination is listed twice")
        self.up = _up_flags(graph, down)
        self.dist = _Z32 * (graph.n * len(self.dests))
        self.nh = _Z64 * (graph.words * len(self.dests))
        self._native = select(backend)
        self._c: Any = None
        if self._native is not None:
            ffi = self._native.ffi
            self._c = ffi.new("fp_graph *", _c_view(self._native, graph)[0])
            self._c_up = ffi.from_buffer("uint8_t[]", self.up, require_writable=True)
            self._c.up = self._c_up
        self.recompute()

    def recompute(self) -> None:
        """Every destination from scratch."""
        native = self._native
        if native is None:
            paths_ref.routes(self.graph, self.up, self.dests, self.dist, self.nh)
            return
        work = _work(native, self.graph)
        self._c.up = self._c_up if 0 in self.up else native.ffi.NULL  # all up: no checks
        _check(native.lib.fp_routes_compute(
            self._c, _u32(native, self.dests), len(self.dests), _u32(native, self.dist),
            _u64(native, self.nh), _u32(native, work)), "fp_routes_compute")

    def is_up(self, link: int) -> bool:
        self.graph.check_link(link)
        return bool(self.up[link])

    def set_link(self, link: int, up: bool) -> tuple[int, ...]:
        """Takes a link down or brings it up; the destinations whose distances or
        next hops changed. Only those were touched."""
        self.graph.check_link(link)
        if bool(self.up[link]) == up:
            raise LinkStateError(f"link {link} is already {'up' if up else 'down'}")
        native = self._native
        if native is None:
            changed = paths_ref.set_link(self.graph, self.up, link, up, self.dests, self.dist,
                                         self.nh)
            return tuple(self.dests[k] for k in changed)
        out = _Z32 * len(self.dests)
        count = native.ffi.new("uint32_t *")
        work = _work(native, self.graph)
        self._c.up = self._c_up
        _check(native.lib.fp_routes_set_link(
            self._c, link, int(up), _u32(native, self.dests), len(self.dests),
            _u32(native, self.dist), _u64(native, self.nh), _u32(native, work),
            _u32(native, out), count), "fp_routes_set_link")
        return tuple(self.dests[k] for k in out[:count[0]])

    def link_down(self, link: int) -> tuple[int, ...]:
        return self.set_link(link, False)

    def link_up(self, link: int) -> tuple[int, ...]:
        return self.set_link(link, True)

    def tree(self, dest: int) -> Tree:
        """A copy of the table's tree toward `dest`."""
        k = self._k(dest)
        n, w = self.graph.n, self.graph.words
        return Tree(self.graph, dest, self.dist[k * n:(k + 1) * n], self.nh[k * w:(k + 1) * w])

    def distance(self, node: int, dest: int) -> int | None:
        self.graph.check_node(node)
        d = self.dist[self._k(dest) * self.graph.n + node]
        return None if d == INF else d

    def next_hops(self, node: int, dest: int) -> tuple[int, ...]:
        return tuple(self.graph.head[a] for a in self._arcs(node, dest))

    def next_hop_links(self, node: int, dest: int) -> tuple[int, ...]:
        return tuple(self.graph.arc_link[a] for a in self._arcs(node, dest))

    def _arcs(self, node: int, dest: int) -> list[int]:
        base = self._k(dest) * self.graph.words
        nh = self.nh
        return [a for a in self.graph.arcs(node) if nh[base + (a >> 6)] >> (a & 63) & 1]

    def _k(self, dest: int) -> int:
        try:
            return self._index[dest]
        except KeyError:
            raise GraphError(f"node {dest} is not a destination of this engine") from None


_Z32 = array("I", [0])   # repeated into zeroed arrays
_Z64 = array("Q", [0])


def _work(native: Native, graph: Graph) -> array[int]:
    per_node: int = native.lib.FP_WORK_PER_NODE
    return _Z32 * (per_node * graph.n)


def _up_flags(graph: Graph, down: Iterable[int]) -> bytearray:
    up = bytearray(b"\x01") * graph.nlinks
    for link in down:
        graph.check_link(link)
        up[link] = 0
    return up


def _u32(native: Native, a: array[int]) -> Any:
    return native.ffi.from_buffer("uint32_t[]", a, require_writable=True)


def _u64(native: Native, a: array[int]) -> Any:
    return native.ffi.from_buffer("uint64_t[]", a, require_writable=True)


def _check(rc: int, call: str) -> None:
    if rc != 0:  # the wrappers check every argument first: this is a bug
        raise NativeError(f"{call} returned {rc}")


def _c_view(native: Native, graph: Graph) -> Any:
    """An fp_graph over the Graph's arrays (up: NULL), made once and kept on the Graph
    with the buffers it points into. Callers copy it before setting `up`."""
    if graph._c_view is None:
        ffi = native.ffi
        keep = [ffi.from_buffer("uint32_t[]", a)
                for a in (graph.row, graph.head, graph.arc_link, graph.link_arcs)]
        weight = ffi.NULL if graph.weights is None else ffi.from_buffer("uint32_t[]",
                                                                        graph.weights)
        keep.append(weight)
        ptr = ffi.new("fp_graph *", {
            "n": graph.n, "nlinks": graph.nlinks, "row": keep[0], "head": keep[1],
            "arc_link": keep[2], "link_arcs": keep[3], "weight": weight, "up": ffi.NULL})
        graph._c_view = (ptr, keep)
    view: tuple[Any, list[Any]] = graph._c_view  # type: ignore[assignment]
    return view[0]
