"""Placement costs in pure Python: the reference the C kernel (ext/fp_place.c) equals.

Same arrays in, same numbers out; place.py calls it where the C module is not built
(and the tests hold the two side by side).
"""

from __future__ import annotations

import math
from collections.abc import MutableSequence, Sequence

from ctrl.fastpath.graph import INF

NONE = 0xFFFFFFFF   # FP_NONE: no candidate


def _row(dist: Sequence[int], n: int, cand: Sequence[int], lo: int, hi: int,
         nodes: Sequence[int], w: Sequence[float]) -> list[float]:
    row = [0.0] * len(cand)
    for c in range(lo, hi):
        weight = w[c]
        if weight == 0.0:
            continue
        base = nodes[c] * n
        for j, k in enumerate(cand):
            d = dist[base + k]
            row[j] += math.inf if d == INF else weight * d
    return row


def costs(dist: Sequence[int], n: int, cand: Sequence[int], off: Sequence[int],
          nodes: Sequence[int], w: Sequence[float]) -> list[float]:
    """out[i * len(cand) + j]: VM i's traffic-weighted distance to cand[j] (fp_place.h)."""
    out: list[float] = []
    for i in range(len(off) - 1):
        out += _row(dist, n, cand, off[i], off[i + 1], nodes, w)
    return out


def best(dist: Sequence[int], n: int, cand: Sequence[int], allowed: bytes | None,
         off: Sequence[int], nodes: Sequence[int], w: Sequence[float], cur: Sequence[int],
         out_best: MutableSequence[int], best_cost: MutableSequence[float],
         cur_cost: MutableSequence[float], rows: MutableSequence[float] | None) -> None:
    """fp_place_best (fp_place.h)."""
    nc = len(cand)
    for i in range(len(off) - 1):
        row = _row(dist, n, cand, off[i], off[i + 1], nodes, w)
        if rows is not None:
            for j, cost in enumerate(row):
                rows[i * nc + j] = cost
        pick, least = NONE, math.inf
        for j, cost in enumerate(row):
            if (allowed is None or allowed[j]) and cost < least:
                pick, least = j, cost
        out_best[i], best_cost[i] = pick, least
        if cur[i] == INF:
            cur_cost[i] = math.inf
            continue
        here = 0.0
        for c in range(off[i], off[i + 1]):
            if w[c] == 0.0:
                continue
            d = dist[nodes[c] * n + cur[i]]
            here += math.inf if d == INF else w[c] * d
        cur_cost[i] = here
