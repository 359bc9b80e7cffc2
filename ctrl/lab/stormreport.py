"""What a migration storm measured (`ctrl lab storm`), as JSON and as a table. Pure.

Times are the controller's and the driver's time.monotonic() (CLOCK_MONOTONIC, one
clock for the processes of a machine): the storm starts when the driver sends the first
announcement (or, with none, the first RARP), and is over when the last of its moves'
writes is acknowledged; each move's own convergence runs from its RARP's packet-in to
its last write acknowledged, as the controller measures it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True, slots=True)
class Spread:
    """A distribution, in ms: how many, the least, median, 90th and 99th percentile, most."""

    n: int
    min: float
    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0)
        v = sorted(values)
        return cls(len(v), v[0], _rank(v, 0.5), _rank(v, 0.9), _rank(v, 0.99), v[-1])


def _rank(v: Sequence[float], q: float) -> float:
    """The nearest-rank percentile: the value at rank ceil(q * n)."""
    return v[min(len(v) - 1, max(0, math.ceil(q * len(v)) - 1))]


@dataclass(frozen=True, slots=True)
class SwitchWrites:
    """Per switch, during the storm: updates written and the Write RPCs that held them."""

    switch: str
    updates: int
    batches: int


@dataclass(frozen=True, slots=True)
class ProbeLoss:
    """One direction of a probed pair's UDP stream through the storm (from before its
    first announcement to after its last write): sent, lost, the longest run of loss
    (send times), the longest gap between arrivals and the sender's own longest pause (a
    gap the network did not make), and which VM of the pair moved (announced or not)."""

    direction: str              # "vm1 -> vm2"
    moved: str                  # the pair's VM that moved, "" for none
    announced: bool
    sent: int
    lost: int
    longest_loss_ms: float
    longest_gap_ms: float
    send_gap_ms: float


@dataclass(frozen=True, slots=True)
class StormReport:
    fabric: str                 # what the switches were, said plainly
    switches: int
    vms: int
    vnets: int
    moves: int
    announced: int
    converged: int              # moves whose every write was taken
    not_converged: tuple[str, ...]   # MAC: the switches that refused
    total_ms: float             # first announcement to the last write acknowledged
    announce_ms: float          # first announcement sent to the last answered
    convergence: Spread         # per move: its RARP's packet-in to its last write
    writes: tuple[SwitchWrites, ...]
    probes: tuple[ProbeLoss, ...] = ()
    notes: tuple[str, ...] = ()
    extra: Mapping[str, object] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    def updates(self) -> Spread:
        return Spread.of([float(w.updates) for w in self.writes if w.updates])

    def batches(self) -> Spread:
        return Spread.of([float(w.batches) for w in self.writes if w.batches])

    def table(self) -> list[str]:
        c, u, b = self.convergence, self.updates(), self.batches()
        rows = [
            ("fabric", self.fabric),
            ("switches / VMs / virtual networks", f"{self.switches} / {self.vms:,} / "
                                                  f"{self.vnets:,}"),
            ("moves at once (announced)", f"{self.moves:,} ({self.announced:,})"),
            ("converged", f"{self.converged:,} of {self.moves:,}"),
            ("first announcement -> last write acknowledged", f"{self.total_ms:,.1f} ms"),
            ("announcements answered in", f"{self.announce_ms:,.1f} ms"
             if self.announced else "-"),
            ("per move, RARP -> last write: median / p90 / p99 / max",
             f"{c.p50:,.1f} / {c.p90:,.1f} / {c.p99:,.1f} / {c.max:,.1f} ms"),
            ("switches written", f"{u.n} of {self.switches}"),
            ("updates per switch written: median / max / total",
             f"{u.p50:,.0f} / {u.max:,.0f} / {sum(w.updates for w in self.writes):,}"),
            ("Write RPCs per switch written: median / max / total",
             f"{b.p50:,.0f} / {b.max:,.0f} / {sum(w.batches for w in self.writes):,}"),
        ]
        for p in self.probes:
            how = ("announced" if p.announced else "unannounced") if p.moved else ""
            rows.append((f"probe {p.direction}" + (f" ({p.moved} moved, {how})"
                                                   if p.moved else ""),
                         f"{p.lost} of {p.sent} datagrams lost (longest run "
                         f"{p.longest_loss_ms:.1f} ms); longest gap {p.longest_gap_ms:.1f} "
                         f"ms, the sender's own {p.send_gap_ms:.1f} ms"))
        width = max(len(k) for k, _ in rows)
        out = [f"{k:<{width}}  {v}" for k, v in rows]
        if self.not_converged:
            out.append("NOT converged: " + "; ".join(self.not_converged[:10])
                       + (" ..." if len(self.not_converged) > 10 else ""))
        out += [f"note: {n}" for n in self.notes]
        return out
