"""The placement demo's plot: each player's hop count to the server and its RTT over
time, the engine's migrations as red lines, the players' roams as grey ones, the
oscillation phases shaded. matplotlib's object API on the Agg canvas, as ctrl/lab/plot.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ctrl.lab.roamreport import Step, Timeline

COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple")


def figure(t: Timeline, steps: Sequence[Step], title: str | None = None) -> Figure:
    fig = Figure(figsize=(11, 6), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    hops_ax, rtt_ax = fig.subplots(2, 1, sharex=True)
    o = t.origin
    players = sorted({p for _, h in t.hops for p in h} | set(t.rtt))
    for colour, p in zip(COLOURS * len(players), players, strict=False):
        xs = [at - o for at, h in t.hops if h.get(p) is not None]
        ys = [h[p] for _, h in t.hops if h.get(p) is not None]
        hops_ax.plot(xs, ys, drawstyle="steps-post", color=colour, label=p)
        got = [(at - o, ms) for at, ms in t.rtt.get(p, []) if ms is not None]
        rtt_ax.plot([x for x, _ in got], [y for _, y in got], ".", markersize=2,
                    color=colour, label=p)
        lost = [at - o for at, ms in t.rtt.get(p, []) if ms is None]
        if lost:
            rtt_ax.plot(lost, [0] * len(lost), "x", color=colour, markersize=4)
    hops_ax.set_ylabel("links from the player's\nswitch to the server's")
    hops_ax.set_ylim(-0.2, max([h for _, s in t.hops for h in s.values() if h is not None],
                               default=1) + 0.5)
    every = sorted(ms for s in t.rtt.values() for _, ms in s if ms is not None)
    if every:   # a few slow echoes (a busy machine) would flatten the rest: they are clipped
        top = max(2 * every[int(0.98 * (len(every) - 1))], 1.0)
        rtt_ax.set_ylim(0, top)
        high = [(at - o, top) for s in t.rtt.values() for at, ms in s
                if ms is not None and ms > top]
        if high:
            rtt_ax.plot([x for x, _ in high], [y for _, y in high], "^", color="0.4",
                        markersize=4, label=f"above {top:.1f} ms")
    rtt_ax.set_ylabel("RTT (ms), ICMP echo\n(x: no answer)")
    rtt_ax.set_xlabel("seconds since the demo started")
    for ax in (hops_ax, rtt_ax):
        for m in t.moves:
            placed = m.cause == "placement"
            ax.axvline(m.paused - o, color="tab:red" if placed else "0.6",
                       linestyle="-" if placed else "--", linewidth=1.2 if placed else 0.7)
        for s in steps:
            if s.kind == "oscillate":
                ax.axvspan(s.start - o, s.end - o, color="0.92", zorder=0)
        ax.grid(True, linewidth=0.3, alpha=0.6)
        ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    for m in t.moves:
        if m.cause == "placement":
            hops_ax.annotate(f"{m.host} -> {m.dst}", (m.paused - o, hops_ax.get_ylim()[1]),
                             rotation=90, va="top", ha="right", fontsize=7, color="tab:red")
    for s in steps:
        if s.kind == "oscillate":
            hops_ax.annotate(s.label, (s.start - o, hops_ax.get_ylim()[0]), va="bottom",
                             fontsize=7, color="0.3")
    if title:
        fig.suptitle(title + "\nred: the engine's migrations; grey dashed: players roaming",
                     fontsize=10)
    return fig


def save_roam_plot(t: Timeline, steps: Sequence[Step], path: Path,
                   title: str | None = None) -> None:
    figure(t, steps, title).savefig(path)
