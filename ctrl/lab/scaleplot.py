"""The README's scale plot from bench/bench_scale.py's figures (it draws it after each
run, beside its JSON). Left: a storm's convergence against
the moves at once (the last write acknowledged, and the median move); right: the
controller's RSS after a cold start against the VMs it tracks, with the goals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

GOAL_STORM_MS = 1000.0   # 1,000 moves at once: all converged within a second
GOAL_RSS_MB = 300.0      # 100,000 VMs tracked


def plot(doc: dict[str, Any], out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    storms = sorted((int(k), v) for k, v in doc.get("storm", {}).items())
    if storms:
        xs = [n for n, _ in storms]
        left.plot(xs, [v["total_ms"] for _, v in storms], "o-",
                  label="first announcement to last write")
        left.plot(xs, [v["p50_ms"] for _, v in storms], "s--", label="median move")
        left.axhline(GOAL_STORM_MS, color="grey", linestyle=":", label="goal: 1 s")
        left.set_xscale("log")
        left.set_yscale("log")
        left.set_xlabel("VMs moved at once (k=16, 320 switches: ack-only sink, no data plane)")
        left.set_ylabel("ms")
        left.legend(fontsize=8)
    colds = sorted((int(k), v) for k, v in doc.get("cold_start", {}).items())
    if colds:
        xs = [n for n, _ in colds]
        right.plot(xs, [v["rss_mb"] for _, v in colds], "o-", label="RSS after a cold start")
        right.plot(xs, [v["peak_mb"] for _, v in colds], "s--", label="peak (VmHWM)")
        right.axhline(GOAL_RSS_MB, color="grey", linestyle=":", label="goal: 300 MB")
        right.set_xscale("log")
        right.set_xlabel("VMs tracked by `ctrl serve` after a cold start (k=16, sink)")
        right.set_ylabel("MB")
        right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
