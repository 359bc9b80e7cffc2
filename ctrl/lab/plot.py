"""A PNG of a probe's throughput over time, each migration marked with what it cost.

Like Cloud Rack's Figure 7 (throughput during a migration), in windows a person can
read: UDP packets/s and TCP Mbit/s in 100 ms bins (the report keeps 10 ms bins, in
which the probe's own jitter and any stall of a few ms show as spikes and empty bins).
The fine grain is kept where it matters: each migration has a dashed line at the VM's
pause, a label with what the probe measured around it (for how long everything sent
was lost, the longest gap between arrivals) and, below, a panel of its own at 1 ms
scale: the pause, every gap in arrivals and every run of loss of each direction. Gaps
of 10 ms or more far from any migration (the data path or the probe held up by the
CPU) are marked with grey triangles on the top edge, "lost" where a run of loss the
report lists falls in one (else its datagrams came late), so that a dip in the curve
is never left unexplained.

matplotlib's object API on the Agg canvas: no pyplot, no global figure state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ctrl.lab.report import Gap, Report, Series, UdpResult

COLOURS = ("tab:blue", "tab:orange")
MARK_COLOUR = "tab:red"
STALL_COLOUR = "0.45"
READABLE_MS = 100.0     # bins of the curves
STALL_MS = 10.0         # a gap this long, away from migrations, is marked
HEADROOM = 1.6          # the y axis shows up to this many times the median throughput
BEFORE_S, AFTER_S = 0.05, 0.5   # a migration's window without one given: around its mark


@dataclass(frozen=True, slots=True)
class Window:
    """A migration as the plot shows it: its label, the VM's pause (probe seconds, and
    how long, 0 when unknown) and where its gaps are looked for."""

    label: str
    at: float
    pause_s: float
    start: float
    end: float


def windows_of(report: Report) -> list[Window]:
    """Each mark of the report as a migration of unknown pause, its window around it."""
    return [Window(m.name, m.at, 0.0, m.at - BEFORE_S, m.at + AFTER_S) for m in report.marks]


def readable(series: Series, bin_ms: float, width_ms: float = READABLE_MS
             ) -> tuple[list[float], float]:
    """The series in bins of about `width_ms` (whole multiples of the report's): the
    mean rate of each whole bin (a last, partial one is left out), and the new bin
    width in seconds."""
    factor = max(1, round(width_ms / bin_ms))
    values = series.values
    whole = len(values) // factor * factor or len(values)
    out = [sum(values[i:i + factor]) / len(values[i:i + factor])
           for i in range(0, whole, factor)]
    return out, factor * bin_ms / 1000


def _top(values: list[float]) -> float | None:
    """Where the y axis ends: a little above the usual throughput, so that a burst in
    which a queue drains after an outage (clipped) does not flatten the rest."""
    ordered = sorted(v for v in values if v > 0)
    if not ordered:
        return None
    return min(ordered[-1], HEADROOM * ordered[len(ordered) // 2]) * 1.05


def _draw(ax: Axes, series: list[Series], bin_ms: float, ylabel: str) -> None:
    shown = []
    for colour, s in zip(COLOURS * len(series), series, strict=False):
        values, width = readable(s, bin_ms)
        shown += values
        ax.plot([i * width for i in range(len(values))], values, drawstyle="steps-post",
                linewidth=1.1, color=colour, label=s.name.split(" ", 1)[1])
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, _top(shown))
    ax.grid(True, linewidth=0.3, alpha=0.6)
    if series:
        ax.legend(loc="lower right", fontsize=8, framealpha=0.8)


def _inside(g: Gap, start: float, end: float) -> bool:
    return g.at <= end and g.at + g.ms / 1000 >= start


def stalls(report: Report, windows: list[Window], min_ms: float = STALL_MS
           ) -> list[tuple[Gap, bool]]:
    """Gaps of at least `min_ms` in either direction outside every migration's window,
    one per instant (the two directions' gaps at the same time count once), each with
    whether datagrams were lost in it (else they came late)."""
    out: list[tuple[Gap, bool]] = []
    for u in report.udp:
        for g in u.interruptions:
            if g.ms < min_ms or any(_inside(g, w.start, w.end) for w in windows):
                continue
            lost = any(_inside(x, g.at, g.at + g.ms / 1000) for x in u.losses)
            same = next((i for i, (o, _) in enumerate(out) if abs(o.at - g.at) < 0.005), None)
            if same is None:
                out.append((g, lost))
            else:
                o, was_lost = out[same]
                out[same] = (max(o, g, key=lambda x: x.ms), was_lost or lost)
    return sorted(out, key=lambda x: x[0].at)


def _labelled(found: list[tuple[Gap, bool]], apart_s: float = 0.3
              ) -> list[tuple[Gap, bool]]:
    """The longest of each cluster of stalls (closer than `apart_s`): one label each."""
    out: list[tuple[Gap, bool]] = []
    for g, lost in found:
        if out and g.at - out[-1][0].at < apart_s:
            if g.ms > out[-1][0].ms:
                out[-1] = (g, lost or out[-1][1])
            continue
        out.append((g, lost))
    return out


def cost(udp: list[UdpResult], w: Window) -> str:
    """What the probe measured around a migration, in a few words."""
    lost = [x for u in udp for x in u.losses if _inside(x, w.start, w.end)]
    gaps = [g for u in udp for g in u.interruptions if _inside(g, w.start, w.end)]
    worst_loss = max((x.ms for x in lost), default=0.0)
    worst_gap = max((g.ms for g in gaps), default=0.0)
    return (f"lost {worst_loss:.1f} ms" if lost else "nothing lost") + \
        (f", gap {worst_gap:.1f} ms" if gaps else "")


def _zoom(ax: Axes, report: Report, w: Window) -> None:
    """One migration at 1 ms scale: a lane per direction for gaps in arrivals (orange)
    and runs of loss (red), the VM's pause shaded, milliseconds from the pause."""
    lanes = []
    for u in report.udp:
        lanes.append((f"{u.direction}\narrivals", u.interruptions, "tab:orange"))
        lanes.append((f"{u.direction}\nlost", u.losses, MARK_COLOUR))
    lo, hi = (w.start - w.at) * 1e3, (w.end - w.at) * 1e3
    if w.pause_s > 0:
        ax.axvspan(0, w.pause_s * 1e3, color="0.85", label="VM paused")
    ax.axvline(0, color=MARK_COLOUR, linestyle="--", linewidth=0.8)
    for row, (_, listed, colour) in enumerate(lanes):
        for g in listed:
            if not _inside(g, w.start, w.end):
                continue
            x0 = (g.at - w.at) * 1e3
            ax.barh(row, g.ms, left=x0, height=0.6, color=colour)
            ax.annotate(f"{g.ms:.1f}", (x0 + g.ms, row), xytext=(2, 0),
                        textcoords="offset points", va="center", fontsize=7)
    ax.set_yticks(range(len(lanes)), [lane[0] for lane in lanes], fontsize=6)
    ax.set_ylim(-0.6, len(lanes) - 0.4)
    ax.invert_yaxis()
    ax.set_xlim(lo, hi)
    ax.set_xlabel("ms from the VM's pause", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_title(f"{w.label}: {cost(report.udp, w)}", fontsize=8)
    ax.grid(True, axis="x", linewidth=0.3, alpha=0.6)


def figure(report: Report, title: str | None = None, windows: list[Window] | None = None
           ) -> Figure:
    """The figure: UDP above, TCP below where the probe ran TCP, and a zoom panel per
    migration under them."""
    windows = windows_of(report) if windows is None else windows
    udp = [s for s in report.series if s.name.startswith("udp ")]
    tcp = [s for s in report.series if s.name.startswith("tcp ")]
    mains = 2 if tcp else 1
    zooms = len(windows)
    fig = Figure(figsize=(11, 3.0 * mains + (2.6 if zooms else 0) + 0.6), dpi=110,
                 layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(mains + (1 if zooms else 0), max(1, zooms),
                            height_ratios=[3.0] * mains + ([2.3] if zooms else []))
    axes = [fig.add_subplot(grid[0, :])]
    if tcp:
        axes.append(fig.add_subplot(grid[1, :], sharex=axes[0]))
    width = f"{readable(udp[0], report.bin_ms)[1] * 1e3:g} ms bins" if udp else ""
    _draw(axes[0], udp, report.bin_ms, f"UDP packets/s\n({width})")
    if tcp:
        _draw(axes[1], tcp, report.bin_ms, f"TCP Mbit/s\n({width})")
    axes[-1].set_xlabel("time since the probe started (s)")
    axes[0].set_xlim(0, max(report.duration_s, report.bin_ms / 1000))
    for i, w in enumerate(windows):
        for ax in axes:
            ax.axvline(w.at, color=MARK_COLOUR, linestyle="--", linewidth=0.9)
        left = w.at > 0.6 * report.duration_s   # then the label reads leftwards
        axes[0].annotate(f"{w.label}: {cost(report.udp, w)}", (w.at, 0.55 - 0.1 * (i % 3)),
                         xycoords=("data", "axes fraction"), xytext=(-3 if left else 3, 0),
                         textcoords="offset points", va="center",
                         ha="right" if left else "left", fontsize=7.5,
                         color=MARK_COLOUR, bbox={"facecolor": "white", "alpha": 0.8,
                                                  "edgecolor": "none", "pad": 1})
    found = stalls(report, windows)
    if found:
        axes[0].plot([g.at for g, _ in found], [1.0] * len(found), linestyle="none",
                     marker="v", markersize=6, color=STALL_COLOUR, clip_on=False,
                     transform=axes[0].get_xaxis_transform(),
                     label=f"gap >= {STALL_MS:g} ms, no migration")
        for g, lost in _labelled(found):
            axes[0].annotate(f"{g.ms:.0f} ms{' lost' if lost else ''}", (g.at, 1.0),
                             xycoords=("data", "axes fraction"), xytext=(0, 6),
                             textcoords="offset points", ha="center", fontsize=6.5,
                             color=STALL_COLOUR)
        axes[0].legend(loc="lower right", fontsize=8, framealpha=0.8)
    for i, w in enumerate(windows):
        _zoom(fig.add_subplot(grid[mains, i]), report, w)
    head = title or f"Throughput during the probe, {report.a} <-> {report.b}"
    fig.suptitle(f"{head}\nlongest gap {report.longest_gap_ms:.1f} ms; grey triangles: "
                 f"{len(found)} gaps of {STALL_MS:g} ms or more with no migration near (ms; "
                 "'lost': a run of loss the report lists falls in it, else late)", fontsize=9)
    return fig


def png(report: Report, title: str | None = None, windows: list[Window] | None = None
        ) -> bytes:
    """The figure as PNG bytes (for a file, or inline in an HTML report)."""
    from io import BytesIO

    buf = BytesIO()
    figure(report, title, windows).savefig(buf, format="png")
    return buf.getvalue()


def save_plot(report: Report, path: Path | str, title: str | None = None,
              windows: list[Window] | None = None) -> Path:
    """Write the figure as a PNG at `path`; returns the path."""
    path = Path(path)
    path.write_bytes(png(report, title, windows))
    return path
