"""A round of plans written to the switches: the runner's applier hands it the plans
queued while the last round was written.

Every plan's steps are coalesced (one batch per switch per step, each plan's
make-before-break order kept) and written step by step, a switch that fails a step
skipped for the steps after it; then the plans' frames go out. Each move's
convergence, from the packet-in to the last write acknowledged, is recorded (the
API's moves, the stage histograms, the feed) and logged with the switches that
failed it, if any: a failed write is never a converged move.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from ctrl.control.diff import Diff
from ctrl.control.notices import Converged, Feed
from ctrl.control.plans import Applied, PacketOuts, Plan, Send, coalesce_parts
from ctrl.control.session import SessionError, SwitchSession
from ctrl.control.stages import Histograms, MoveStages, RoundWrites, Write
from ctrl.errors import MobilityError, P4EncodeError

log = logging.getLogger(__name__)

MOVES_KEPT = 100_000   # the latest moves' records, with their stages, for the API


class RoundWriter:
    """Writes rounds of plans through the switches' sessions and keeps what became of
    the moves in them: `moves` (GET /api/v1/moves), `stages` and `convergence_s`
    (/metrics)."""

    def __init__(self, sessions: Mapping[str, SwitchSession], feed: Feed,
                 clock: Callable[[], float]) -> None:
        self.sessions = sessions
        self.feed = feed
        self.clock = clock
        self.convergence_s: list[float] = []
        self.stages = Histograms()   # where moves' time went, stage by stage
        self.moves: deque[Converged] = deque(maxlen=MOVES_KEPT)

    def _synced_version(self, switch: str) -> int:
        return self.sessions[switch].synced_version

    async def write(self, plans: list[Plan]) -> list[Applied]:
        """Every queued plan in one round of steps; then their frames; then the moves'
        convergence, told truthfully."""
        failed: dict[str, str] = {}
        written: dict[str, int] = {}
        began = self.clock()
        writes: list[Write] = []
        steps = coalesce_parts(plans, self._synced_version)
        for k, step in enumerate(steps):
            todo = [(s, parts) for s, parts in step.items() if s not in failed]
            results = await asyncio.gather(*(self._timed(k, s, parts, writes)
                                             for s, parts in todo), return_exceptions=True)
            for (s, _), result in zip(todo, results, strict=True):
                if isinstance(result, BaseException):
                    if not isinstance(result, MobilityError):
                        raise result
                    failed[s] = str(result)
                else:
                    written[s] = written.get(s, 0) + result
        for plan in plans:
            for send in plan.sends:
                await self.send(send)
            if plan.outs:
                await self.send_outs(plan.outs)
        done = self.clock()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("round: %d plans (%d moves), %d steps, %d Writes, in %.1f ms "
                      "(planned %.1f ms before)", len(plans),
                      sum(len(p.moves) for p in plans), len(steps),
                      sum(len(st) for st in steps), (done - began) * 1e3,
                      (began - min(p.start for p in plans)) * 1e3)
        out = []
        round_writes = RoundWrites(writes)
        told = log.isEnabledFor(logging.INFO)
        now = time.monotonic()
        for plan in plans:
            switches = plan.switches()
            mine = {s: failed[s] for s in switches if s in failed} if failed else {}
            applied = Applied(sum(written.get(s, 0) for s in switches), mine)
            stages = None
            if plan.moves:
                stages = MoveStages(plan.received, plan.decided or now, plan.planning,
                                    round_writes.of(switches), now)
                self.stages.move(stages)
            for ev in plan.moves:
                took = done - plan.start
                record = Converged(ev.host.vnet, ev.host.mac, ev.new, took, applied.written,
                                   tuple(sorted(mine)), done, stages=stages)
                self.moves.append(record)
                self.feed.publish([record])
                if mine:
                    log.error("%012x moved %s -> %s: NOT converged: %s did not take its "
                              "writes (%s)", ev.host.mac, ev.old, ev.new, ", ".join(sorted(mine)),
                              "; ".join(mine.values()))
                else:
                    self.convergence_s.append(took)
                    if told:
                        log.info("%012x moved %s -> %s: %d writes, converged in %.1f ms (%s)",
                                 ev.host.mac, ev.old, ev.new, plan.writes(), took * 1e3,
                                 stages.summary() if stages else "")
            out.append(applied)
        return out

    async def _timed(self, step: int, switch: str, parts: Sequence[tuple[int | None, Diff]],
                     writes: list[Write]) -> int:
        """A switch's part of a step (one Write), its round trip kept (a Write that wrote
        nothing, none)."""
        began = time.monotonic()
        n = await self.sessions[switch].apply_parts(parts)
        if n:
            writes.append(Write(step, switch, time.monotonic() - began, began))
        return n

    async def send_outs(self, outs: PacketOuts) -> None:
        """Frames out of a switch's ports, all in one buffer; those that cannot be sent
        are logged, once for them all."""
        try:
            await self.sessions[outs.switch].packet_outs(outs.ports, outs.frames)
        except (SessionError, P4EncodeError) as exc:
            log.warning("%s: %d frames not sent: %s", outs.switch, len(outs), exc)

    async def send(self, send: Send) -> None:
        """A frame out of a switch's port; one that cannot be sent is logged."""
        try:
            await self.sessions[send.switch].packet_out(send.port, send.frame)
        except SessionError as exc:
            log.warning("%s: frame out of port %d not sent: %s", send.switch, send.port, exc)
