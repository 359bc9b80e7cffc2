"""The switch graph in compact (CSR) arrays, as the C path engine reads it (ext/fp_paths.h).

Nodes are 0..n-1 (the caller keeps its own names), links 0..nlinks-1 are
undirected, each made of two arcs: arc `link_arcs[2l]` leaves `ends[2l]`,
`link_arcs[2l+1]` leaves `ends[2l+1]`. The arcs leaving node u are
`row[u] .. row[u+1]-1`, in the order of their links; `head[a]` is where arc a
leads and `arc_link[a]` its link. Parallel links are allowed, self loops not.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence

from ctrl.fastpath.errors import GraphError
from ctrl.fastpath.native import Backend, Native, select

INF = 0xFFFFFFFF  # FP_INF: no path
_U32_MAX = 0xFFFFFFFF


class Graph:
    """An immutable switch graph: hop counts, or a weight (>= 1) per link."""

    __slots__ = ("_c_view", "arc_link", "ends", "head", "link_arcs", "n", "nlinks", "row",
                 "weights")

    def __init__(self, n: int, links: Iterable[tuple[int, int]],
                 weights: Sequence[int] | None = None, *, backend: Backend = Backend.AUTO
                 ) -> None:
        if not 0 <= n < _U32_MAX:
            raise GraphError(f"{n} nodes")
        ends = array("I")
        for u, v in links:
            if not (0 <= u < n and 0 <= v < n):
                raise GraphError(f"link {len(ends) // 2} ({u}, {v}): a node outside 0..{n - 1}")
            if u == v:
                raise GraphError(f"link {len(ends) // 2} ({u}, {v}) is a self loop")
            ends.extend((u, v))
        self.n = n
        self.nlinks = len(ends) // 2
        self.ends = ends
        self.weights = None if weights is None else self._weights(weights)
        self.row = array("I", bytes(4 * (n + 1)))
        self.head = array("I", bytes(4 * len(ends)))
        self.arc_link = array("I", bytes(4 * len(ends)))
        self.link_arcs = array("I", bytes(4 * len(ends)))
        self._c_view: object = None  # paths.py's fp_graph over these arrays, made once
        native = select(backend)
        if native is None:
            self._build_python()
        else:
            self._build_native(native)

    def _weights(self, weights: Sequence[int]) -> array[int]:
        if len(weights) != self.nlinks:
            raise GraphError(f"{len(weights)} weights for {self.nlinks} links")
        if any(not 1 <= w < _U32_MAX for w in weights):
            raise GraphError("link weights are integers from 1 up")
        if sum(weights) >= INF:
            raise GraphError(f"the weights add up to {sum(weights)}; at most {INF - 1}")
        return array("I", weights)

    def _build_python(self) -> None:
        """The counting sort of fp_graph_build(), stable in link order."""
        ends, row = self.ends, self.row
        for u in ends:
            row[u + 1] += 1
        for u in range(self.n):
            row[u + 1] += row[u]
        fill = array("I", row)
        for a, u in enumerate(ends):
            slot = fill[u]
            fill[u] += 1
            self.head[slot] = ends[a ^ 1]
            self.arc_link[slot] = a // 2
            self.link_arcs[a] = slot

    def _build_native(self, native: Native) -> None:
        ffi = native.ffi
        rc = native.lib.fp_graph_build(
            self.n, self.nlinks, ffi.from_buffer("uint32_t[]", self.ends),
            ffi.from_buffer("uint32_t[]", self.row, require_writable=True),
            ffi.from_buffer("uint32_t[]", self.head, require_writable=True),
            ffi.from_buffer("uint32_t[]", self.arc_link, require_writable=True),
            ffi.from_buffer("uint32_t[]", self.link_arcs, require_writable=True))
        if rc != 0:  # the checks above leave nothing for C to refuse
            raise GraphError(f"fp_graph_build returned {rc}")
        weights = ffi.NULL if self.weights is None else ffi.from_buffer("uint32_t[]",
                                                                       self.weights)
        view = ffi.new("fp_graph *", {
            "n": self.n, "nlinks": self.nlinks, "row": ffi.from_buffer("uint32_t[]", self.row),
            "head": ffi.from_buffer("uint32_t[]", self.head),
            "arc_link": ffi.from_buffer("uint32_t[]", self.arc_link),
            "link_arcs": ffi.from_buffer("uint32_t[]", self.link_arcs), "weight": weights,
            "up": ffi.NULL})
        rc = native.lib.fp_graph_check(view)
        if rc != 0:
            raise GraphError(f"fp_graph_check returned {rc}")

    @property
    def weighted(self) -> bool:
        return self.weights is not None

    @property
    def words(self) -> int:
        """64-bit words of one destination's next-hop bitset (one bit per arc)."""
        return (2 * self.nlinks + 63) // 64

    def link_ends(self, link: int) -> tuple[int, int]:
        self.check_link(link)
        return self.ends[2 * link], self.ends[2 * link + 1]

    def weight(self, link: int) -> int:
        self.check_link(link)
        return 1 if self.weights is None else self.weights[link]

    def arcs(self, node: int) -> range:
        """The arcs leaving `node`."""
        self.check_node(node)
        return range(self.row[node], self.row[node + 1])

    def check_node(self, node: int) -> None:
        if not 0 <= node < self.n:
            raise GraphError(f"node {node} is not in 0..{self.n - 1}")

    def check_link(self, link: int) -> None:
        if not 0 <= link < self.nlinks:
            raise GraphError(f"link {link} is not in 0..{self.nlinks - 1}")

    def __repr__(self) -> str:
        kind = "weighted" if self.weighted else "hop count"
        return f"Graph(n={self.n}, links={self.nlinks}, {kind})"
