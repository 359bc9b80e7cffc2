"""Where a lab migration's milliseconds went, stage by stage: what the lab saw (the VM's
pause, its RARP, the probe's first datagram through) joined with what the controller says
of the move (GET /api/v1/moves: its packet-in, decision, planning, each Write's round
trip). Every time is a time.monotonic() reading, the system's clock, so the lab's and the
controller's processes compare.

    RARP to packet-in         the VM's RARP sent, to the controller taking its packet-in
                              (the switch's punt, the target, gRPC)
    packet-in to decision     the controller's parse, tracker and planning
    planning                  of that, making the move's writes
    writes                    each step's Writes (the switches of a step in parallel)
    last write to traffic     the last Write acknowledged, to the first datagram through
                              after the loss (negative: traffic flowed before the reply)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ctrl.lab.moves import Migration, controller_call
from ctrl.lab.report import Gap

STAGE_NAMES = ("RARP to packet-in", "packet-in to decision", "planning", "writes",
               "last write to traffic")


@dataclass(frozen=True, slots=True)
class Breakdown:
    """One migration's stages, ms (None: not known, e.g. an announced move's switch-over
    comes from the API, not a packet-in)."""

    rarp_to_packet_in: float | None
    packet_in_to_decision: float | None
    planning: float | None
    steps: tuple[tuple[str, ...], ...]        # each step: "switch ms" of its Writes
    writes: float | None                      # decision to the last write acknowledged
    last_write_to_traffic: float | None

    def facts(self) -> list[tuple[str, str]]:
        def ms(v: float | None) -> str:
            return "-" if v is None else f"{v:.1f} ms"
        steps = " then ".join(", ".join(s) for s in self.steps) or "-"
        return [("RARP to packet-in", ms(self.rarp_to_packet_in)),
                ("packet-in to decision", ms(self.packet_in_to_decision)),
                ("planning", ms(self.planning)),
                ("writes (decision to last ack)", f"{ms(self.writes)}: {steps}"),
                ("last write to traffic", ms(self.last_write_to_traffic))]

    def line(self) -> str:
        return "; ".join(f"{k} {v}" for k, v in self.facts())


def moves(api: str) -> list[dict[str, Any]]:
    """The controller's latest moves with their stages."""
    got = controller_call(api, "moves")
    return [m for m in got if isinstance(m, dict)] if isinstance(got, list) else []


def find_move(records: Sequence[dict[str, Any]], mac: str, m: Migration
              ) -> dict[str, Any] | None:
    """The controller's record of this migration: the VM's move decided after it paused."""
    mine = [r for r in records if str(r.get("mac", "")).lower() == mac.lower()
            and isinstance(r.get("stages"), dict) and r["stages"]["decided"] >= m.paused]
    return mine[0] if mine else None


def breakdown(m: Migration, record: dict[str, Any] | None, loss: Gap | None,
              mark_at: float) -> Breakdown:
    """Pure: the stages of `m` from the controller's `record` of it and the probe's
    longest run of loss around it (`mark_at`: the VM's pause in the probe's seconds)."""
    st: dict[str, Any] = (record or {}).get("stages") or {}
    received = st.get("received")
    decided, done = st.get("decided"), st.get("done")
    writes = st.get("writes", [])
    steps: dict[int, list[str]] = {}
    for w in writes:
        steps.setdefault(int(w["step"]), []).append(f"{w['switch']} {float(w['ms']):.1f}")
    through = None
    if loss is not None and done is not None:
        first_ok = m.paused + (loss.at + loss.ms / 1e3 - mark_at)
        through = (first_ok - float(done)) * 1e3
    return Breakdown(
        rarp_to_packet_in=None if received is None else (float(received) - m.resumed) * 1e3,
        packet_in_to_decision=st.get("packet_in_to_decision_ms"),
        planning=st.get("planning_ms"),
        steps=tuple(tuple(steps[k]) for k in sorted(steps)),
        writes=None if decided is None or done is None else (done - decided) * 1e3,
        last_write_to_traffic=through)
