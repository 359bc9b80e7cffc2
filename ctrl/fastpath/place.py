"""Traffic-weighted distances from candidate nodes to each VM's clients, for many VMs in
one call: the C kernel (ext/fp_place.c) behind typed wrappers.

    table = CostTable(dist, n)                     # dist[u * n + v]: links u -> v
    demands = Demands.of([{3: 10.0, 5: 2.5}])      # per VM: node -> weight
    table.costs(demands, cand=[0, 7])              # [[10*d(3,0) + 2.5*d(5,0), ...]]
    table.best(demands, cand=[0, 7], cur=[3])      # the cheapest candidate of each VM

A demand maps a node (where traffic enters the network toward the VM) to its weight
(packets/s); a cost is the sum of weight x links to the candidate, +inf where a node with
traffic cannot reach it. Without the C module the Python reference (place_ref.py) gives
the same numbers.
"""

from __future__ import annotations

import itertools
import math
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ctrl.fastpath import place_ref
from ctrl.fastpath.errors import GraphError, NativeError
from ctrl.fastpath.graph import INF
from ctrl.fastpath.native import Backend, select

NONE = place_ref.NONE   # no candidate


@dataclass(frozen=True, slots=True)
class Demands:
    """Many VMs' demands in compact arrays: VM i's are nodes[off[i] .. off[i+1])."""

    off: array[int]
    nodes: array[int]
    weights: array[float]

    def __len__(self) -> int:
        return len(self.off) - 1

    @classmethod
    def of_names(cls, index: Mapping[str, int], demands: Iterable[Mapping[str, float]]
                 ) -> Demands:
        """Demands keyed by names, the nodes' numbers from `index`."""
        ds = list(demands)
        nodes = array("I", map(index.__getitem__, itertools.chain.from_iterable(ds)))
        weights = array("d", itertools.chain.from_iterable(d.values() for d in ds))
        off = array("I", [0])
        off.extend(itertools.accumulate(map(len, ds)))
        return cls(off, nodes, weights)

    @classmethod
    def of(cls, demands: Iterable[Mapping[int, float]]) -> Demands:
        off, nodes, weights = array("I", [0]), array("I"), array("d")
        for d in demands:
            nodes.extend(d.keys())
            weights.extend(d.values())
            off.append(len(nodes))
        return cls(off, nodes, weights)


@dataclass(frozen=True, slots=True)
class Best:
    """Per VM: the index of its cheapest allowed candidate (NONE: none reachable), that
    cost, its cost where it is; and every cost (`rows`, nc per VM) when asked for."""

    index: array[int]
    cost: array[float]
    here: array[float]
    rows: array[float] | None
    nc: int

    def row(self, i: int) -> Sequence[float]:
        if self.rows is None:
            raise ValueError("the costs were not kept (best(..., rows=True))")
        return self.rows[i * self.nc:(i + 1) * self.nc]


class CostTable:
    """An n x n distance table (links; INF: no path) and the batched costs over it."""

    __slots__ = ("_backend", "dist", "n")

    def __init__(self, dist: array[int], n: int, *, backend: Backend = Backend.AUTO) -> None:
        if dist.typecode != "I" or len(dist) != n * n:
            raise GraphError(f"a distance table of {n} x {n} uint32, not {len(dist)} "
                             f"'{dist.typecode}'")
        self.dist = dist
        self.n = n
        self._backend = backend

    def distance(self, a: int, b: int) -> int | None:
        d = self.dist[a * self.n + b]
        return None if d == INF else d

    def _check(self, demands: Demands, cand: Sequence[int]) -> None:
        n = self.n
        for k in cand:
            if not 0 <= k < n:
                raise GraphError(f"candidate {k} is not a node of 0..{n - 1}")
        if demands.nodes and not max(demands.nodes) < n:
            raise GraphError(f"demand at {max(demands.nodes)}, not a node of 0..{n - 1}")
        for w in demands.weights:
            if not (math.isfinite(w) and w >= 0.0):
                raise GraphError(f"demand weight {w}: finite and >= 0")

    def costs(self, demands: Demands, cand: Sequence[int]) -> list[list[float]]:
        """One row per VM, one cost per candidate node."""
        self._check(demands, cand)
        cands = array("I", cand)
        nc, nv = len(cands), len(demands)
        native = select(self._backend)
        if native is None:
            flat = place_ref.costs(self.dist, self.n, cands, demands.off, demands.nodes,
                                   demands.weights)
        else:
            ffi = native.ffi
            out = array("d", bytes(8 * max(1, nc * nv)))
            _ok(native.lib.fp_place_costs(
                ffi.from_buffer("uint32_t[]", self.dist), self.n, _u32(ffi, cands), nc,
                ffi.from_buffer("uint32_t[]", demands.off), nv, _u32(ffi, demands.nodes),
                _f64(ffi, demands.weights), ffi.from_buffer("double[]", out,
                                                            require_writable=True)),
                "fp_place_costs")
            flat = out.tolist()
        return [flat[i * nc:(i + 1) * nc] for i in range(nv)]

    def best(self, demands: Demands, cand: Sequence[int], cur: Sequence[int | None], *,
             allowed: bytes | None = None, rows: bool = False) -> Best:
        """Per VM its cheapest candidate among those `allowed` (one byte per candidate,
        non-zero: allowed; None: all), and its cost at `cur` (its node now; None:
        nowhere, +inf). The C kernel checks every node and weight itself (FP_E_RANGE,
        before it writes anything): they are checked here only for the reference, and
        to say which one when C refuses."""
        native = select(self._backend)
        if native is None:
            self._check(demands, cand)
        nv, nc = len(demands), len(cand)
        if len(cur) != nv:
            raise GraphError(f"{len(cur)} current nodes for {nv} VMs")
        if allowed is not None and len(allowed) != nc:
            raise GraphError(f"{len(allowed)} allowed flags for {nc} candidates")
        curs = array("I", (INF if c is None else c for c in cur))
        for c in curs:
            if c != INF and not 0 <= c < self.n:
                raise GraphError(f"current node {c} is not a node of 0..{self.n - 1}")
        cands = array("I", cand)
        index = array("I", bytes(4 * nv))
        cost, here = array("d", bytes(8 * nv)), array("d", bytes(8 * nv))
        kept = array("d", bytes(8 * nv * nc)) if rows else None
        if native is None:
            place_ref.best(self.dist, self.n, cands, allowed, demands.off, demands.nodes,
                           demands.weights, curs, index, cost, here, kept)
        else:
            ffi = native.ffi
            work = array("d", bytes(8 * max(1, (self.n + 1) * nc)))
            rc = native.lib.fp_place_best(
                ffi.from_buffer("uint32_t[]", self.dist), self.n, _u32(ffi, cands), nc,
                ffi.NULL if allowed is None else ffi.from_buffer("uint8_t[]", allowed),
                ffi.from_buffer("uint32_t[]", demands.off), nv, _u32(ffi, demands.nodes),
                _f64(ffi, demands.weights), _u32(ffi, curs),
                ffi.from_buffer("uint32_t[]", index, require_writable=True),
                ffi.from_buffer("double[]", cost, require_writable=True),
                ffi.from_buffer("double[]", here, require_writable=True),
                ffi.NULL if kept is None else ffi.from_buffer("double[]", kept,
                                                              require_writable=True),
                ffi.from_buffer("double[]", work, require_writable=True))
            if rc != 0:
                self._check(demands, cand)   # says which one
                _ok(rc, "fp_place_best")
        return Best(index, cost, here, kept, nc)


def _u32(ffi: object, a: array[int]) -> object:
    return ffi.from_buffer("uint32_t[]", a) if a else ffi.NULL  # type: ignore[attr-defined]


def _f64(ffi: object, a: array[float]) -> object:
    return ffi.from_buffer("double[]", a) if a else ffi.NULL  # type: ignore[attr-defined]


def _ok(rc: int, call: str) -> None:
    if rc != 0:   # every argument was checked first: this is a bug
        raise NativeError(f"{call} returned {rc}")


__all__ = ["INF", "NONE", "Best", "CostTable", "Demands"]
