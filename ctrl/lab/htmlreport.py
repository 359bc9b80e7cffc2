"""A probe's report (and the demo's) as one self-contained HTML file: the table, the plot
inline (base64 PNG), each migration's breakdown, the gaps no migration explains. Pure:
figures in, a string out; nothing is fetched when it is opened."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass

from ctrl.lab.plot import Window, stalls
from ctrl.lab.report import Gap, Report

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1250px; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; } h3 { font-size: 1em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f5f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #ddd; }
.note { color: #555; font-size: 0.9em; }
.bad { color: #b71c1c; font-weight: bold; } .good { color: #1b5e20; }
"""


@dataclass(frozen=True, slots=True)
class Step:
    """A migration as the report tells it: where the plot shows it, and what else is
    known of it (label -> value, e.g. the VM's pause, QEMU's downtime)."""

    window: Window
    facts: Sequence[tuple[str, str]] = ()


def _e(text: object) -> str:
    return html.escape(str(text))


def table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(v: object, tag: str) -> str:
        num = isinstance(v, int | float) and not isinstance(v, bool)
        attr = ' class="num"' if num else ""
        return f"<{tag}{attr}>{_e(v)}</{tag}>"

    out = ["<table>", "<tr>" + "".join(cell(h, "th") for h in head) + "</tr>"]
    out += ["<tr>" + "".join(cell(v, "td") for v in r) + "</tr>" for r in rows]
    return "\n".join([*out, "</table>"])


def image(png: bytes, alt: str) -> str:
    return (f'<img alt="{_e(alt)}" src="data:image/png;base64,'
            f'{base64.b64encode(png).decode()}">')


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f} ms"


def _gaps(listed: Sequence[Gap], w: Window) -> str:
    inside = [g for g in listed if g.at <= w.end and g.at + g.ms / 1000 >= w.start]
    return ", ".join(f"{g.ms:.1f} ms at {(g.at - w.at) * 1e3:+.0f} ms" for g in inside) or "none"


def streams(report: Report) -> str:
    """UDP and TCP, per direction, as tables."""
    udp = table(["UDP", "rate /s", "sent", "received", "lost", "duplicated", "reordered",
                 "longest gap", "at (s)", "all lost for", "sender's own longest pause",
                 "one-way delay median / max"],
                [(u.direction, u.rate, u.sent, u.received, u.lost, u.duplicated, u.reordered,
                  _ms(u.longest_gap_ms), f"{u.longest_gap_at:.3f}",
                  _ms(u.longest_loss_ms) if u.lost else "nothing lost", _ms(u.send_gap_ms),
                  f"{_ms(u.delay_ms_median)} / {_ms(u.delay_ms_max)}") for u in report.udp])
    if not report.tcp:
        return udp
    tcp = table(["TCP", "MB/s", "bytes sent", "received", "complete", "in order", "survived",
                 "longest stall", "at (s)"],
                [(t.direction, t.rate / 1e6, t.bytes_sent, t.bytes_received,
                  "yes" if t.complete else "NO", "yes" if t.in_order else "NO",
                  "yes" if t.survived else f"NO: {t.error}", _ms(t.longest_stall_ms),
                  f"{t.longest_stall_at:.3f}") for t in report.tcp])
    return udp + "\n" + tcp


def breakdown(report: Report, steps: Sequence[Step]) -> str:
    """Each migration: what is known of it, then per direction the gaps in arrivals and
    the runs of loss in its window (ms from the VM's pause)."""
    out = []
    for s in steps:
        w = s.window
        facts = [*s.facts, ("the probe looked from / to", f"{(w.start - w.at) * 1e3:+.0f} ms "
                            f"/ {(w.end - w.at) * 1e3:+.0f} ms around the pause "
                            f"({w.at:.3f} s into the probe)")]
        rows = [(u.direction, _gaps(u.interruptions, w), _gaps(u.losses, w)) for u in report.udp]
        out.append(f"<h3>{_e(w.label)}</h3>\n" + table(["", ""], facts) + "\n"
                   + table(["direction", "gaps in arrivals", "everything sent lost for"], rows))
    return "\n".join(out) or "<p>No migration during this probe.</p>"


def unexplained(report: Report, windows: Sequence[Window]) -> str:
    """The gaps of 10 ms or more that no migration explains (the plot's grey marks)."""
    found = stalls(report, list(windows))
    if not found:
        return "<p>None: every gap of 10 ms or more came with a migration.</p>"
    rows = [(f"{g.at:.3f}", _ms(g.ms), "some lost" if lost else
             "late (no run of loss listed in it)") for g, lost in found]
    return (table(["at (s)", "gap", "datagrams"], rows) +
            '<p class="note">Outside any migration, mostly both directions at once and '
            "nothing lost: the path was held up, not changed. They came as often with the "
            "controller killed as with it running (one A/B run in the lab). Most likely the "
            "CPU: on the Open vSwitch target ovs-vswitchd forwards in user space, and on a "
            "loaded machine (the lab's switches, controller and probe share its cores with "
            "whatever else runs) a datapath thread that does not run for a while holds up "
            "every flow through it; what was sent meanwhile waits in socket queues and "
            "comes late.</p>")


def document(title: str, body: Sequence[str]) -> str:
    return "\n".join(["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
                      f"<title>{_e(title)}</title>", f"<style>{STYLE}</style></head><body>",
                      f"<h1>{_e(title)}</h1>", *body, "</body></html>", ""])


def probe_page(title: str, report: Report, steps: Sequence[Step], png: bytes) -> str:
    """`ctrl lab probe`'s report."""
    return document(title, [
        f'<p class="note">{_e(report.a)} &harr; {_e(report.b)}; started {_e(report.started)}; '
        f"{report.duration_s:.2f} s{' (interrupted)' if report.interrupted else ''}</p>",
        "<h2>Throughput</h2>", image(png, title),
        "<h2>The streams</h2>", streams(report),
        "<h2>Each migration</h2>", breakdown(report, steps),
        "<h2>Gaps no migration explains</h2>", unexplained(report, [s.window for s in steps]),
        *([f"<p class='bad'>error: {_e(e)}</p>" for e in report.errors]),
    ])


def demo_page(title: str, rows: Sequence[Sequence[str]], notes: Sequence[str],
              baseline: Report, report: Report, steps: Sequence[Step], png: bytes,
              ok: bool) -> str:
    """`ctrl lab demo`'s report: its table first, then the probe's report."""
    verdict = ('<p class="good">Nothing lost without migration; TCP complete through every '
               "migration.</p>" if ok else
               '<p class="bad">Something was lost without migration, or TCP broke.</p>')
    return document(title, [
        verdict, "<h2>Each migration's interruption</h2>", table(rows[0], rows[1:]),
        "<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>",
        "<h2>Throughput</h2>", image(png, title),
        "<h2>The streams during the migrations</h2>", streams(report),
        "<h2>Each migration, in detail</h2>", breakdown(report, steps),
        "<h2>Gaps no migration explains</h2>", unexplained(report, [s.window for s in steps]),
        f"<h2>Without migration ({baseline.duration_s:.1f} s)</h2>", streams(baseline),
        "<h2>Gaps in the probe without migration</h2>", unexplained(baseline, []),
        *([f"<p class='bad'>error: {_e(e)}</p>" for e in report.errors + baseline.errors]),
    ])
