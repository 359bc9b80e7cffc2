"""Placement costs in pure Python: the reference the C kernel (ext/fp_place.c) equals.

Same arrays in, same numbers out; place.py calls it where the C module is not built
(and the benchmark races the two).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

from ctrl.fastpath.graph import INF


def costs(dist: array[int], n: int, cand: Sequence[int], off: Sequence[int],
          nodes: Sequence[int], weights: Sequence[float]) -> list[float]:
    """out[i * len(cand) + j]: VM i's traffic-weighted distance to cand[j] (fp_place.h)."""
    nc = len(cand)
    out = [0.0] * ((len(off) - 1) * nc)
    for i in range(len(off) - 1):
        base = i * nc
        for c in range(off[i], off[i + 1]):
            w = weights[c]
            if w == 0.0:
                continue
            row = nodes[c] * n
            for j, k in enumerate(cand):
                d = dist[row + k]
                out[base + j] += math.inf if d == INF else w * d
    return out
