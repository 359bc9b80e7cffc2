"""Traffic-weighted distances from candidate switches to each VM's clients, for many VMs
in one call: the C kernel (ext/fp_place.c) behind a typed wrapper.

    table = DistanceTable(graph)                  # all pairs, on the C path engine
    table.costs([{3: 10.0, 5: 2.5}], cand=[0, 7])  # [[10*d(3,0) + 2.5*d(5,0), ...]]

A demand maps a node (where traffic enters the network toward the VM) to its weight
(bytes/s); a cost is the sum of weight x links to the candidate, +inf where a node with
traffic cannot reach it. Without the C module the Python reference (place_ref.py) gives
the same numbers.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping, Sequence

from ctrl.fastpath import place_ref
from ctrl.fastpath.errors import GraphError, NativeError
from ctrl.fastpath.graph import INF, Graph
from ctrl.fastpath.native import Backend, select
from ctrl.fastpath.paths import PathEngine


class DistanceTable:
    """All-pairs distances of a graph (links in `down` taken out), and the batched costs
    over them."""

    __slots__ = ("_backend", "engine", "n")

    def __init__(self, graph: Graph, *, down: Iterable[int] = (),
                 backend: Backend = Backend.AUTO) -> None:
        self.engine = PathEngine(graph, down=down, backend=backend)
        self.n = graph.n
        self._backend = backend

    def distance(self, a: int, b: int) -> int | None:
        return self.engine.distance(a, b)

    def costs(self, demands: Sequence[Mapping[int, float]], cand: Sequence[int]
              ) -> list[list[float]]:
        """One row per demand, one cost per candidate node."""
        n = self.n
        for k in cand:
            if not 0 <= k < n:
                raise GraphError(f"candidate {k} is not a node of 0..{n - 1}")
        off = array("I", [0])
        nodes = array("I")
        weights = array("d")
        for d in demands:
            for node, w in d.items():
                if not 0 <= node < n:
                    raise GraphError(f"demand at {node}, not a node of 0..{n - 1}")
                if not (math.isfinite(w) and w >= 0.0):
                    raise GraphError(f"demand weight {w} at node {node}: finite and >= 0")
                nodes.append(node)
                weights.append(w)
            off.append(len(nodes))
        cands = array("I", cand)
        nc = len(cands)
        native = select(self._backend)
        if native is None:
            flat = place_ref.costs(self.engine.dist, n, cands, off, nodes, weights)
        else:
            ffi = native.ffi
            out = array("d", bytes(8 * max(1, nc * len(demands))))
            rc = native.lib.fp_place_costs(
                ffi.from_buffer("uint32_t[]", self.engine.dist), n,
                ffi.from_buffer("uint32_t[]", cands) if nc else ffi.NULL, nc,
                ffi.from_buffer("uint32_t[]", off), len(demands),
                ffi.from_buffer("uint32_t[]", nodes) if nodes else ffi.NULL,
                ffi.from_buffer("double[]", weights) if weights else ffi.NULL,
                ffi.from_buffer("double[]", out, require_writable=True))
            if rc != 0:   # every argument was checked above: this is a bug
                raise NativeError(f"fp_place_costs returned {rc}")
            flat = out.tolist()
        return [flat[i * nc:(i + 1) * nc] for i in range(len(demands))]


__all__ = ["INF", "DistanceTable"]
