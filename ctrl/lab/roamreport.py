"""The placement demo's record, its goals and its summary (ctrl/lab/roam.py runs it). Pure:
what was seen in, a report out.

Per step: where the players were, where the engine put the server and how soon after the
players' last move, each player's hop count (links from its switch to the server's, by the
path engine that forwards) and median RTT once it settled, and what each engine
migration cost each player's probe (the longest run of datagrams lost, next to the
server's own pause). The oscillation phases: how many migrations the engine made and
how far apart.
"""

from __future__ import annotations

import itertools
import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ctrl.lab.moves import Migration
from ctrl.lab.report import Report
from ctrl.placement.cli import lines as placement_lines

LOSS_WINDOW = (0.05, 0.5)   # a migration's losses: from this long before its pause to after


@dataclass
class Timeline:
    """What the demo saw, on the monotonic clock (every process's: the system's)."""

    origin: float
    hops: list[tuple[float, dict[str, int | None]]] = field(default_factory=list)
    rtt: dict[str, list[tuple[float, float | None]]] = field(default_factory=dict)
    decisions: list[tuple[float, str, str | None, str]] = field(default_factory=list)
    moves: list[Migration] = field(default_factory=list)


@dataclass
class Step:
    label: str
    kind: str                              # "roam", or "oscillate" (a phase)
    start: float
    end: float = 0.0
    players: dict[str, str] = field(default_factory=dict)   # player -> access point, at end
    expected: str | None = None            # where the server is best, by the same costs
    before: str | None = None              # where the server was at the start
    server: str | None = None              # where it was at the end
    migration: Migration | None = None     # the engine's, for a roam step
    after_s: float | None = None           # from the players' last move to the server resumed
    hops: dict[str, int | None] = field(default_factory=dict)
    minimum: dict[str, int | None] = field(default_factory=dict)   # fewest hops possible
    rtt_ms: dict[str, float | None] = field(default_factory=dict)
    threshold: float | None = None         # the policy's, for an oscillation phase
    saving: float | None = None            # the most an oscillation's costs could save
    migrations: list[Migration] = field(default_factory=list)
    roams: int = 0
    engine: str = ""                       # what the placement engine said when it ended


def about(status: Mapping[str, Any], vm: str) -> dict[str, Any]:
    """The placement engine's status (`GET /api/v1/placement`) about one VM only."""
    return {**status, "vms": [v for v in status.get("vms", []) if v.get("vm") == vm],
            "recent": [r for r in status.get("recent", []) if r.get("vm") == vm]}


def under_way(status: Mapping[str, Any]) -> int:
    """The engine's migrations started and not ended (ended: done or failed)."""
    c = status.get("counters") or {}
    return int(c.get("started", 0)) - int(c.get("succeeded", 0)) - int(c.get("failed", 0))


def said(status: Mapping[str, Any]) -> str:
    """What the engine says, as `ctrl placement` shows it, in one line."""
    if not status:
        return "nothing: the controller's placement API did not answer"
    return " | ".join(line.strip() for line in placement_lines(dict(status)) if line.strip())


def median_rtt(samples: Sequence[tuple[float, float | None]], start: float, end: float
               ) -> float | None:
    got = [ms for t, ms in samples if start <= t <= end and ms is not None]
    return round(statistics.median(got), 3) if got else None


def loss_around(report: Report, origin: float, m: Migration) -> float | None:
    """The longest run of loss of either direction of a probe around a migration (ms)."""
    start, end = m.paused - origin - LOSS_WINDOW[0], m.resumed - origin + LOSS_WINDOW[1]
    runs = [u.longest_loss_between(start, end) for u in report.udp]
    return max((g.ms for g in runs if g is not None), default=None)


@dataclass(frozen=True, slots=True)
class Interruption:
    migration: str
    player: str
    pause_ms: float
    lost_ms: float | None      # the longest run of loss (None: nothing lost)
    interval_ms: float         # the probe's: a run of loss is at least this long

    @property
    def beyond_ms(self) -> float:
        """What the loss exceeds the server's pause by, a datagram's interval allowed."""
        return 0.0 if self.lost_ms is None else max(
            0.0, self.lost_ms - self.pause_ms - self.interval_ms)


def interruptions(moves: Sequence[Migration], reports: Mapping[str, tuple[Report, float]]
                  ) -> list[Interruption]:
    out = []
    for m in moves:
        if m.cause != "placement":
            continue
        for player, (report, origin) in sorted(reports.items()):
            interval = max((u.interval_ms for u in report.udp), default=0.0)
            out.append(Interruption(f"{m.host} {m.src} -> {m.dst}", player,
                                    round(m.downtime * 1e3, 3), loss_around(report, origin, m),
                                    interval))
    return out


@dataclass(frozen=True, slots=True)
class Goal:
    what: str
    met: bool
    seen: str


def goals(steps: Sequence[Step], cuts: Sequence[Interruption], dwell: float) -> list[Goal]:
    out = []
    for s in (s for s in steps if s.kind == "roam"):
        if s.expected == s.before:   # nothing to move for: where it is is best
            out.append(Goal(f"{s.label}: the server stays where it is best ({s.expected})",
                            s.migration is None and s.server == s.expected,
                            f"at {s.server}" + ("" if s.migration is None else
                                                f", moved to {s.migration.dst}")))
            continue
        took = s.after_s
        out.append(Goal(f"{s.label}: the server migrated within dwell + 1 s ({dwell + 1:g} s)",
                        took is not None and took <= dwell + 1.0,
                        "not migrated" if took is None else f"{took:.2f} s"))
        at_min = all(s.hops.get(p) == s.minimum.get(p) for p in s.minimum)
        out.append(Goal(f"{s.label}: every player's hop count back to its minimum", at_min,
                        ", ".join(f"{p} {s.hops.get(p)} (min {s.minimum[p]})"
                                  for p in sorted(s.minimum))))
    worst = max(cuts, key=lambda c: c.beyond_ms, default=None)
    out.append(Goal("no datagram lost beyond the migrations' own pause",
                    all(c.beyond_ms == 0.0 for c in cuts),
                    "no engine migration" if worst is None else
                    f"worst: {worst.player} {worst.lost_ms or 0:.1f} ms lost around a "
                    f"{worst.pause_ms:.1f} ms pause"))
    for s in (s for s in steps if s.kind == "oscillate"):
        n = len(s.migrations)
        under = s.saving is not None and s.threshold is not None and s.saving < s.threshold
        spacing = min_spacing(s.migrations)
        if under:
            out.append(Goal(f"{s.label}: 0 migrations", n == 0, f"{n}"))
        else:
            ok = spacing is None or spacing >= dwell - 0.2
            out.append(Goal(f"{s.label}: at most one migration per dwell ({dwell:g} s)", ok,
                            f"{n} migrations" + ("" if spacing is None else
                                                 f", {spacing:.1f} s apart at least")))
    return out


def min_spacing(moves: Sequence[Migration]) -> float | None:
    """The shortest time from a migration's end to the next one's start (s)."""
    ordered = sorted(moves, key=lambda m: m.paused)
    gaps = [b.asked - a.resumed for a, b in itertools.pairwise(ordered)]
    return round(min(gaps), 3) if gaps else None


def _move(m: Migration | None, origin: float) -> dict[str, object] | None:
    if m is None:
        return None
    return {"host": m.host, "from": m.src, "to": m.dst, "cause": m.cause,
            "at_s": round(m.paused - origin, 3), "pause_ms": round(m.downtime * 1e3, 3)}


def document(t: Timeline, steps: Sequence[Step], cuts: Sequence[Interruption],
             checks: Sequence[Goal], extra: Mapping[str, object]) -> dict[str, object]:
    """The JSON report (times in seconds since the demo's start)."""
    o = t.origin
    step_docs = []
    for s in steps:
        d = asdict(s)
        d["start"], d["end"] = round(s.start - o, 3), round(s.end - o, 3)
        d["migration"] = _move(s.migration, o)
        d["migrations"] = [_move(m, o) for m in s.migrations]
        step_docs.append(d)
    return {
        **extra,
        "steps": step_docs,
        "decisions": [{"at_s": round(at - o, 3), "decision": v, "to": to, "why": why,
                       "cause": "placement"} for at, v, to, why in t.decisions],
        "migrations": [_move(m, o) for m in t.moves],
        "interruptions": [{**asdict(c), "beyond_ms": round(c.beyond_ms, 3)} for c in cuts],
        "goals": [asdict(g) for g in checks],
        "timeline": {"hops": [{"at_s": round(at - o, 3), **h} for at, h in t.hops],
                     "rtt_ms": {p: [[round(at - o, 3), ms] for at, ms in s]
                                for p, s in t.rtt.items()}},
    }


def to_json(doc: Mapping[str, object]) -> str:
    return json.dumps(doc, indent=1)


def summary(t: Timeline, steps: Sequence[Step], cuts: Sequence[Interruption],
            checks: Sequence[Goal]) -> list[str]:
    o = t.origin
    out = []
    for s in steps:
        where = ", ".join(f"{p}@{ap}" for p, ap in sorted(s.players.items()))
        out.append(f"[{s.start - o:6.1f} s] {s.label} ({where})")
        if s.kind == "roam":
            m = s.migration
            moved = (f"the engine migrated {m.host} {m.src} -> {m.dst} ({m.cause}), "
                     f"{s.after_s:.2f} s after the last move, paused {m.downtime * 1e3:.1f} ms"
                     if m is not None and s.after_s is not None else
                     f"the server stayed at {s.server}")
            out.append(f"    {moved}; best by the costs: {s.expected}")
            if m is None and s.expected != s.before:
                out.append(f"    the engine said: {s.engine}")
            for p in sorted(s.hops):
                rtt = s.rtt_ms.get(p)
                out.append(f"    {p:<10} hops {s.hops[p]} (fewest possible {s.minimum.get(p)})"
                           f", RTT {'-' if rtt is None else f'{rtt:.2f} ms'} (median)")
        else:
            spacing = min_spacing(s.migrations)
            sav = "-" if s.saving is None else f"{100 * s.saving:.0f}%"
            out.append(f"    threshold {100 * (s.threshold or 0):.0f}%, the most a move "
                       f"could save {sav}; {s.roams} roams, {len(s.migrations)} migrations"
                       + ("" if spacing is None else f", at least {spacing:.1f} s apart"))
    decided = [d for d in t.decisions if d[1] in ("migrate", "advise", "blocked", "error")]
    out.append(f"decisions: {len(t.decisions)} changes, {len(decided)} to move or refused")
    for at, verdict, to, why in decided:
        out.append(f"    [{at - o:6.1f} s] {verdict}{' -> ' + to if to else ''}: {why[:110]}")
    for c in cuts:
        lost = "nothing lost" if c.lost_ms is None else f"{c.lost_ms:.1f} ms lost"
        out.append(f"interruption {c.migration}, {c.player}: {lost}, the pause "
                   f"{c.pause_ms:.1f} ms, beyond it {c.beyond_ms:.1f} ms")
    for g in checks:
        out.append(f"{'MET    ' if g.met else 'NOT MET'} {g.what}: {g.seen}")
    return out
