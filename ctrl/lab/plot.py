"""A PNG of a probe's throughput over time, marks as labelled vertical lines.

Like Cloud Rack's Figure 7 (throughput during a migration): UDP packets/s above,
TCP Mbit/s below, one line per direction, shared time axis. matplotlib's object
API on the Agg canvas: no pyplot, no global figure state, no display needed.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ctrl.lab.report import Report, Series

COLOURS = ("tab:blue", "tab:orange")
MARK_COLOUR = "tab:red"
HEADROOM = 1.6  # the y axis shows up to this many times the median throughput


def _top(series: list[Series]) -> float | None:
    """Where the y axis ends: a little above the usual throughput, so that the burst
    in which a queue drains after an outage (clipped) does not flatten the rest."""
    values = sorted(v for s in series for v in s.values if v > 0)
    if not values:
        return None
    usual = values[len(values) // 2]
    return min(values[-1], HEADROOM * usual) * 1.05


def _draw(ax: Axes, series: list[Series], bin_s: float, ylabel: str) -> None:
    for colour, s in zip(COLOURS * len(series), series, strict=False):
        times = [i * bin_s for i in range(len(s.values))]
        ax.plot(times, s.values, drawstyle="steps-post", linewidth=0.9, color=colour,
                label=s.name.split(" ", 1)[1])
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, _top(series))
    ax.grid(True, linewidth=0.3, alpha=0.6)
    if series:
        ax.legend(loc="lower right", fontsize=8, framealpha=0.8)


def figure(report: Report, title: str | None = None) -> Figure:
    """The figure: one panel for UDP, one for TCP where the probe ran TCP."""
    udp = [s for s in report.series if s.name.startswith("udp ")]
    tcp = [s for s in report.series if s.name.startswith("tcp ")]
    fig = Figure(figsize=(10, 6 if tcp else 3.6), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2 if tcp else 1, 1, sharex=True, squeeze=False)[:, 0]
    bin_s = report.bin_ms / 1000
    _draw(axes[0], udp, bin_s, f"UDP packets/s\n({report.bin_ms:g} ms bins)")
    if tcp:
        _draw(axes[1], tcp, bin_s, f"TCP Mbit/s\n({report.bin_ms:g} ms bins)")
    axes[-1].set_xlabel("time since the probe started (s)")
    axes[-1].set_xlim(0, max(report.duration_s, bin_s))
    for mark in report.marks:
        for ax in axes:
            ax.axvline(mark.at, color=MARK_COLOUR, linestyle="--", linewidth=0.9)
        axes[0].annotate(mark.name, (mark.at, 1), xycoords=("data", "axes fraction"),
                         xytext=(3, -4), textcoords="offset points", rotation=90,
                         va="top", ha="left", fontsize=8, color=MARK_COLOUR)
    gap = f"longest gap {report.longest_gap_ms:.1f} ms"
    fig.suptitle(title or f"Throughput during the probe, {report.a} <-> {report.b}: {gap}",
                 fontsize=10)
    return fig


def save_plot(report: Report, path: Path | str, title: str | None = None) -> Path:
    """Write the figure as a PNG at `path`; returns the path."""
    path = Path(path)
    figure(report, title).savefig(path, format="png")
    return path
