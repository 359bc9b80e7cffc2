"""The controller's runner: the control core (ctrl.control.core) driven by asyncio.

It owns every task: one session per switch (ctrl.control.session), the applier
that writes the core's plans, the timer that ticks the core, the LLDP prober
and the tunnel counter reader. Events go into the core as they come (packet-ins
from the sessions, the API's migration steps); the plans the core returns are
queued, and the applier writes them in rounds (ctrl.control.rounds): the plans
queued while a round is written are coalesced into the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

import grpc

from ctrl.control.core import ControlCore, Metrics, Options
from ctrl.control.heap import give_back
from ctrl.control.held import Held, HeldReader
from ctrl.control.hosts import Damping, Host
from ctrl.control.linkwatch import LLDP_FRAMES_PER_S, LLDP_SLICES, lldp_interval_for
from ctrl.control.migrations import Migration
from ctrl.control.notices import Feed, SwitchChanged
from ctrl.control.planner import PlacedVM, Planner
from ctrl.control.plans import Applied, Outcome, Plan
from ctrl.control.readback import ReadBack, merged
from ctrl.control.rounds import RoundWriter
from ctrl.control.session import SwitchSession
from ctrl.control.topology import Topology
from ctrl.errors import MobilityError
from ctrl.fastpath.stream import PuntBatch
from ctrl.p4rt.entity import Entity, TableEntry
from ctrl.p4rt.schema import P4Schema
from ctrl.p4rt.values import to_int

log = logging.getLogger(__name__)

ROUND_GATHER = 0.05   # seconds a round waits at most for packet-ins already received
# LLDP waits for this long without a plan queued or written (a storm's announcements and
# RARPs come in bursts with short lulls between them), half an interval at most
LLDP_LULL = 0.25


class NotPrimaryError(MobilityError):
    """A change asked of a standby: only the primary of a pair changes anything."""


class Controller:
    def __init__(self, topology: Topology, schema: P4Schema, device_config: bytes, *,
                 election_id: tuple[int, int] = (0, 1), damping: Damping | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 lldp_interval: float = 0.5, flight_timeout: float = 120.0,
                 tunnels_on_demand: bool = True, tunnel_idle: float = 300.0,
                 adopt_wait: float = 2.0,
                 credentials: grpc.ChannelCredentials | None = None,
                 may_write: Callable[[], bool] | None = None,
                 on_denied: Callable[[str], None] | None = None) -> None:
        self.topo = topology
        self.clock = clock
        self.may_write = may_write or (lambda: True)   # False on a standby of a pair
        interval = lldp_interval_for(topology, lldp_interval)
        if interval > lldp_interval:
            log.info("LLDP every %.1f s, not %.1f s: %d fabric ports at %d frames a second at "
                     "most (a link cut is noticed within %.1f s)", interval, lldp_interval,
                     2 * len(topology.links), LLDP_FRAMES_PER_S, 3 * interval)
        self.core = ControlCore(topology, Options(
            damping=damping or Damping(), lldp_interval=interval,
            flight_timeout=flight_timeout, tunnels_on_demand=tunnels_on_demand,
            tunnel_idle=tunnel_idle), now=clock(), timer=time.monotonic)
        reader = self._reader = HeldReader(schema)   # one C decoder: every switch's read-back
        self.sessions = {
            name: SwitchSession(sw, schema, device_config, self._on_packets,
                                partial(self._wanted, name),
                                election_id, on_change=self._on_change, on_read=self._on_read,
                                credentials=credentials, may_write=may_write,
                                on_denied=on_denied, version=self._version, reader=reader)
            for name, sw in topology.switches.items()
        }
        # Before the first syncs write anything, what every switch holds is read back
        # (or `adopt_wait` s pass after the first): where it says hosts are, they are.
        self.adopt_wait = adopt_wait
        self._readback: dict[str, ReadBack] = {}
        self._last_read = 0.0
        self._gate = asyncio.Event()
        self._gate_timer: asyncio.Task[None] | None = None
        self.synced = asyncio.Event()
        self.feed = Feed()
        self.rounds = RoundWriter(self.sessions, self.feed, clock)   # and the moves' records
        self._queue: list[tuple[Plan, asyncio.Future[Applied]]] = []
        self._queued = asyncio.Event()
        self._tick = asyncio.Event()   # the core's next deadline may have moved
        self._behind = False           # on packet-ins, at the last tick
        self._applier: asyncio.Task[None] | None = None
        self._quiet = asyncio.Event()   # no plan waits, none is being written
        self._quiet.set()
        self._quiet_at = 0.0            # when a round last wrote (time.monotonic())
        # An HA pair's: until what the core noticed so far is in the shared state. An API
        # step answers after it: a migration acknowledged is one the standby knows of.
        self.journaled: Callable[[], Awaitable[None]] | None = None

    def _wanted(self, switch: str) -> Sequence[Entity]:
        return self.core.wanted(switch, self._reader)   # (compactly: for its diff)

    def _version(self) -> int:
        return self.core.version

    # -- what the API and the CLI read ---------------------------------------------

    @property
    def metrics(self) -> Metrics:
        return self.core.metrics

    @property
    def planner(self) -> Planner:
        return self.core.planner

    def hosts(self) -> list[Host]:
        return self.core.tracker.hosts()

    def in_sync(self, switch: str) -> bool:
        """Whether `switch` took every write since its last full sync."""
        return self.sessions[switch].status().in_sync

    def placed(self) -> list[PlacedVM]:
        return [PlacedVM(h.vnet, h.mac, h.ip, h.location) for h in self.hosts()]

    def wanted(self) -> dict[str, list[Entity]]:
        return {sw: list(self.core.wanted(sw)) for sw in self.topo.switches}

    def find(self, vm: str) -> Host:
        return self.core.find(vm)

    def hypervisor_of(self, vm: str) -> str | None:
        """The hypervisor whose switch port the VM is at (None: at no hypervisor's)."""
        return self.core.hypervisor_at(self.find(vm).location)

    def migration(self, vm: str) -> Migration | None:
        return self.core.migrations.get(self.find(vm).key)

    # -- the life of the controller ------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set: a session per switch, each synced as it connects;
        one switch that cannot be reached or refuses writes holds up no other."""
        try:
            async with asyncio.TaskGroup() as tg:
                self._start_applier()
                for name, session in self.sessions.items():
                    tg.create_task(session.run(stop), name=name)
                tg.create_task(self._timer(stop), name="timer")
                if self.topo.links and self.core.options.lldp_interval > 0:
                    tg.create_task(self._probe_links(stop), name="lldp")
                if self.core.tunnels is not None and self.planner.tunnels():
                    tg.create_task(self._read_tunnel_counters(stop), name="tunnels")
                await stop.wait()
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Stop the applier; plans still queued are answered as not applied."""
        if self._gate_timer is not None:
            self._gate_timer.cancel()
        task, self._applier = self._applier, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for _, fut in self._queue:
            if not fut.done():
                fut.set_exception(MobilityError("the controller stopped"))
                fut.add_done_callback(_retrieved)   # a plan nobody awaits: no log of it
        self._queue.clear()
        self._quiet.set()

    def _on_change(self, switch: str) -> None:
        st = self.sessions[switch].status()
        # A switch's links are judged by their LLDP only while it is in sync: one that is
        # syncing (a controller busy writing 320 of them) may not get to its LLDP in time.
        self.core.switch_state(switch, st.connected and st.in_sync, self.clock())
        self.feed.publish([SwitchChanged(switch, st.connected, st.primary, st.in_sync,
                                         self.clock())])
        if all(s.in_sync for s in self.sessions.values()):
            if not self.synced.is_set():
                log.info("all %d switches in sync", len(self.sessions))
                # Links are judged from now on, each given a whole interval to be heard:
                # syncing 320 switches, this controller may not have got to their LLDP.
                self.core.links_heard(self.clock())
                give_back()   # what the syncs freed (ctrl/control/heap.py)
            self.synced.set()
        else:
            self.synced.clear()

    async def _on_read(self, switch: str, held: Held) -> None:
        """A switch read back, before its sync writes: at the start, wait until every
        switch is read back (or none more has been for `adopt_wait` seconds: a switch
        that cannot be reached holds up no other), then adopt what they say of where
        hosts are; later, a switch read back adds what it says at once."""
        found = self.core.read_held(switch, held)
        if self._gate.is_set():
            self.submit(self.core.adopt(found, self.clock()))
            return
        self._readback[switch] = found
        self._last_read = self.clock()
        if len(self._readback) == len(self.sessions):
            self._open_gate()
        elif self._gate_timer is None:
            self._gate_timer = asyncio.create_task(self._gate_after(self.adopt_wait),
                                                   name="adopt")
        await self._gate.wait()

    async def _gate_after(self, delay: float) -> None:
        """Open the gate once no switch has been read back for `delay` seconds (320
        switches read back one after the other take longer than that altogether: the
        others' syncs must not delete the hosts only the last ones' entries place)."""
        while (wait := self._last_read + delay - self.clock()) > 0:
            await asyncio.sleep(wait)
        missing = sorted(set(self.sessions) - set(self._readback))
        if missing and not self._gate.is_set():
            log.warning("not read back after %.1f s without one: %s; syncing the others",
                        delay, ", ".join(missing))
        self._open_gate()

    def _open_gate(self) -> None:
        if self._gate.is_set():
            return
        m = self.core.metrics
        before = m.moves + m.learned
        plans = self.core.adopt(merged(self._readback), self.clock(), plan=False)
        if m.moves + m.learned > before:
            log.info("%d hosts are where the switches say, not where declared",
                     m.moves + m.learned - before)
        # Every switch read back so far diffs against this in its sync: only the frames
        # (probes) need sending.
        self.submit([Plan(sends=p.sends, start=p.start, why=p.why, outs=p.outs) for p in plans
                     if p.sends or p.outs])
        self._readback.clear()   # adopted: the gate never closes again
        self._gate.set()

    # -- events into the core ---------------------------------------------------------

    def _on_packets(self, switch: str, batch: PuntBatch) -> None:
        """Every packet-in a switch had waiting, as columns: the core, the plans queued
        (not awaited: the next batch is read while they are written)."""
        plans = self.core.punted(switch, batch, self.clock())
        decided = time.monotonic()
        for plan in plans:
            if plan.moves:
                plan.received, plan.decided = batch.received, decided
        self.submit(plans)

    def _primary_only(self, what: str) -> None:
        if not self.may_write():
            raise NotPrimaryError(f"this controller is a standby: it cannot {what}; ask the "
                                  "primary (GET /api/v1/ha says which one is)")

    async def announce(self, vm: str, hypervisor: str, cause: str = "") -> Outcome:
        """An announced migration (see ControlCore.announce), written when this returns."""
        self._primary_only(f"announce {vm}'s migration")
        _, plans = self.core.announce(vm, hypervisor, self.clock(), cause)
        return await self._done(self.find(vm), plans)

    async def switch_over(self, vm: str) -> Outcome:
        self._primary_only(f"switch {vm} over")
        host, plans = self.core.switch_over(vm, self.clock())
        return await self._done(host, plans)

    async def cancel(self, vm: str) -> Outcome:
        self._primary_only(f"cancel {vm}'s migration")
        host, plans = self.core.cancel(vm, self.clock())
        return await self._done(host, plans)

    async def _done(self, host: Host, plans: Sequence[Plan]) -> Outcome:
        decided = time.monotonic()
        for plan in plans:
            plan.decided = plan.decided or decided
        results = await asyncio.gather(*self.submit(plans))
        if self.journaled is not None:   # the switches first, then the shared state
            await self.journaled()
        return Outcome(host, {s: why for r in results for s, why in r.failed.items()})

    # -- plans out of the core --------------------------------------------------------

    async def quiet(self) -> None:
        """Until no plan waits or is being written: what can wait (an HA pair's writes to
        etcd) goes after the switches' writes, not before them."""
        await self._quiet.wait()

    def submit(self, plans: Sequence[Plan]) -> list[asyncio.Future[Applied]]:
        """Queue plans for the applier; each future says what became of its plan. What
        the core noticed on the way goes to the feed."""
        self.feed.publish(self.core.take_notices())
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Applied]] = []
        for plan in plans:
            fut: asyncio.Future[Applied] = loop.create_future()
            self._queue.append((plan, fut))
            futures.append(fut)
        if plans:
            self._quiet.clear()
            self._queued.set()
            self._tick.set()   # the core's next deadline may have moved
            self._start_applier()
        return futures

    def _start_applier(self) -> None:
        if self._applier is None or self._applier.done():
            self._applier = asyncio.create_task(self._apply_loop(), name="applier")

    async def _apply_loop(self) -> None:
        while True:
            await self._queued.wait()
            await self._settle()
            self._queued.clear()
            batch, self._queue = self._queue, []
            if not batch:
                continue
            try:
                results = await self.rounds.write([p for p, _ in batch])
            except BaseException as exc:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc if isinstance(exc, Exception)
                                          else MobilityError("the controller stopped"))
                raise
            for (_, fut), result in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(result)
            if any(p.steps or not (p.sends or p.outs) for p, _ in batch):
                self._quiet_at = time.monotonic()   # frames alone (proxy ARP) hold no LLDP
            if not self._queue:
                self._quiet.set()

    async def _settle(self) -> None:
        """Before a round: the packet-ins already received handled first (a burst of RARPs
        is one round, not a round of the first two while the rest wait behind it), for
        ROUND_GATHER seconds at most."""
        deadline = self.clock() + ROUND_GATHER
        while self.clock() < deadline and any(s.backlog() for s in self.sessions.values()):
            await asyncio.sleep(0)

    # -- time -------------------------------------------------------------------------

    async def _timer(self, stop: asyncio.Event) -> None:
        """Ticks the core when something is due (a held move, a migration's time-out),
        and at least every LLDP interval (silent links, idle tunnels)."""
        period = self.core.options.lldp_interval or 1.0
        while not stop.is_set():
            now = self.clock()
            deadline = self.core.next_deadline()
            wait = period if deadline is None else max(0.0, min(period, deadline - now))
            self._tick.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first(stop, self._tick), wait)
            if stop.is_set():
                return
            # Links are judged by their LLDP only while this controller keeps up with its
            # packet-ins (and its loop with its timers): behind, a silent link may well be
            # one whose LLDP waits in a queue here.
            late = self.clock() - (now + wait)
            behind = late > period / 2 or any(s.backlog() for s in self.sessions.values())
            if behind and not self._behind:
                log.warning("behind on packet-ins (the loop %.0f ms late): links are not "
                            "judged by their silence until it catches up", late * 1e3)
            self._behind = behind
            self.submit(self.core.tick(self.clock(),
                                       links=not behind and self.synced.is_set()))

    async def _probe_links(self, stop: asyncio.Event) -> None:
        """LLDP out of every fabric port each interval, in ten slices across it (4,096
        frames at once, and their 4,096 answers, would hold up a storm's writes). A slice
        due while plans are written waits for them, half an interval at most and on a
        fixed schedule (a link is silent for three intervals before it is down): a
        storm's Writes do not share the loop with LLDP's frames and their answers. Nor
        do its plans: the slice waits until none has been queued or written for
        LLDP_LULL seconds (a storm is many rounds, announcements and RARPs between them),
        on the same half-interval bound."""
        probes = self.core.lldp_probes()
        slices = [probes[i::LLDP_SLICES] for i in range(LLDP_SLICES)]
        interval = self.core.options.lldp_interval
        due = time.monotonic()
        while not stop.is_set():
            for part in slices:
                await self._lull(LLDP_LULL, due + interval / 2)
                for send in part:
                    session = self.sessions[send.switch]
                    # a standby sends nothing; a switch still syncing, not yet
                    if session.connected and session.in_sync and session.may_write():
                        await self.rounds.send(send)
                due = max(due + interval / LLDP_SLICES, time.monotonic() - interval / 2)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.0, due - time.monotonic()))
                if stop.is_set():
                    return

    async def _lull(self, span: float, deadline: float) -> None:
        """Until no plan has been queued or written for `span` seconds, or `deadline`
        (time.monotonic()) has come, whichever is first."""
        while (left := deadline - time.monotonic()) > 0:
            if not self._quiet.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._quiet.wait(), left)
                continue
            rest = self._quiet_at + span - time.monotonic()
            if rest <= 0:
                return
            await asyncio.sleep(min(rest, left))

    async def _read_tunnel_counters(self, stop: asyncio.Event) -> None:
        """The tunnels' packet counters, read from their gateways; the core releases the
        idle ones at its next tick."""
        idle = self.core.options.tunnel_idle
        interval = max(0.1, min(5.0, idle / 4))
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            for gateway in self.core.tunnel_gateways():
                client = self.sessions[gateway].client
                if client is None:
                    continue
                try:
                    entries = await client.read_table("tunnel_encap", counters=True)
                except MobilityError as exc:
                    log.warning("%s: reading tunnel counters: %s", gateway, exc)
                    continue
                self.core.tunnel_counters(gateway, {
                    to_int(e.match["tunnel_id"]): e.counter.packets for e in entries
                    if isinstance(e, TableEntry) and e.counter is not None}, self.clock())
            self._tick.set()


def _retrieved(fut: asyncio.Future[Applied]) -> None:
    fut.exception()


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
