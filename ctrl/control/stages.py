"""Where a move's milliseconds go, inside the controller: a record per move and
histograms of each stage for /metrics. Pure: the times come in, measured by the runner.

Stages of a move the controller learned from a packet-in (time.monotonic() readings):
  packet-in to decision   the first packet-in of its batch off the stream, to the core's
                          answer (decoding, the quiet filter, the tracker, planning);
  planning                of that, the core's time making the move's writes;
  write                   each Write's round trip (one per switch per step), and which
                          steps waited for which (make-before-break);
  packet-in to converged  to the last write acknowledged.
The lab adds the two it sees from outside (ctrl/lab/breakdown.py): the RARP sent to
the packet-in, and the last write to the first datagram forwarded.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# Histogram buckets, seconds: sub-millisecond to a second.
BUCKETS = (0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.05,
           0.1, 0.25, 1.0)
STAGES = ("packet_in_to_decision", "planning", "write", "packet_in_to_converged")


@dataclass(frozen=True, slots=True)
class Write:
    step: int        # make-before-break step of its round (0 first)
    switch: str
    seconds: float   # the Write's round trip
    started: float   # when it was sent (monotonic)


@dataclass(frozen=True, slots=True)
class MoveStages:
    """A move's own timeline inside the controller (monotonic seconds; 0: not known,
    as for a move the API asked for, which has no packet-in)."""

    received: float
    decided: float
    planning: float
    writes: tuple[Write, ...]
    done: float

    def as_json(self) -> dict[str, Any]:
        def ms(s: float) -> float:
            return round(s * 1e3, 3)
        out: dict[str, Any] = {"planning_ms": ms(self.planning),
                               "writes": [{"step": w.step, "switch": w.switch,
                                           "ms": ms(w.seconds),
                                           "after_decision_ms": ms(w.started - self.decided)}
                                          for w in self.writes],
                               "decided": self.decided, "done": self.done}
        if self.received:
            out.update(received=self.received,
                       packet_in_to_decision_ms=ms(self.decided - self.received),
                       packet_in_to_converged_ms=ms(self.done - self.received))
        return out

    def summary(self) -> str:
        """One line for the log: each stage in ms."""
        parts = []
        if self.received:
            parts.append(f"packet-in to decision {(self.decided - self.received) * 1e3:.1f}")
        parts.append(f"planning {self.planning * 1e3:.1f}")
        steps: dict[int, list[str]] = {}
        for w in self.writes:
            steps.setdefault(w.step, []).append(f"{w.switch} {w.seconds * 1e3:.1f}")
        if steps:
            parts.append("writes " + " then ".join(
                ", ".join(steps[k]) for k in sorted(steps)))
        return "; ".join(parts) + " ms"


@dataclass
class Histograms:
    """Cumulative histograms of each stage, as Prometheus keeps them."""

    counts: dict[str, list[int]] = field(
        default_factory=lambda: {s: [0] * (len(BUCKETS) + 1) for s in STAGES})
    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    def observe(self, stage: str, seconds: float) -> None:
        self.counts[stage][bisect.bisect_left(BUCKETS, seconds)] += 1
        self.sums[stage] += seconds

    def move(self, m: MoveStages) -> None:
        if m.received:
            self.observe("packet_in_to_decision", m.decided - m.received)
            self.observe("packet_in_to_converged", m.done - m.received)
        self.observe("planning", m.planning)
        for w in m.writes:
            self.observe("write", w.seconds)

    def buckets(self, stage: str) -> list[tuple[str, float]]:
        """(le, cumulative count) per bucket, "+Inf" last."""
        total, out = 0, []
        for le, n in zip([*map(str, BUCKETS), "+Inf"], self.counts[stage], strict=True):
            total += n
            out.append((le, float(total)))
        return out


class RoundWrites:
    """A round's writes by switch: each plan's share of them, in the round's order (a
    storm's round holds a thousand moves and a thousand Writes)."""

    def __init__(self, writes: Sequence[Write]) -> None:
        self._by: dict[str, list[tuple[int, Write]]] = {}
        for i, w in enumerate(writes):
            self._by.setdefault(w.switch, []).append((i, w))

    def of(self, switches: Iterable[str]) -> tuple[Write, ...]:
        """A plan's writes: those of its switches."""
        got = [x for s in switches for x in self._by.get(s, ())]
        got.sort(key=_position)
        return tuple(w for _, w in got)


def _position(item: tuple[int, Write]) -> int:
    return item[0]
