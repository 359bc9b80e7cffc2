"""One P4Runtime device: an OVS bridge, its OpenFlow connection, pipeline and entries.

What it holds is journaled (ctrl/targets/ovs/journal.py) once the switch has taken
each change, so a device that a new process opens on the same bridge `restore`s its
pipeline and entries, then makes the bridge agree with them in one atomic bundle that
touches only what differs (EntryStore.restore_messages: the entries whose cookie lacks
its flows added, the flows of cookies it does not know deleted; after a crash of the
target alone, nothing at all): the flows the bridge held keep forwarding throughout,
and the controller that reconnects reads back what it wrote before.

When its ovs-vswitchd dies, the flows go with it: `detach` takes the device out of
service (`down` says why; the server refuses it meanwhile), and `reattach`, once a
daemon runs again, puts back from memory what it held, the same way
(ctrl/targets/ovs/supervise.py does both).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ctrl.p4rt.entity import CounterData
from ctrl.p4rt.proto import p4r
from ctrl.p4rt.schema import P4Schema
from ctrl.p4rt.values import encode_value
from ctrl.targets.ovs import pipeline, tunnel, unixctl
from ctrl.targets.ovs.errors import OvsError
from ctrl.targets.ovs.fastwrite import DecodedWrite, WriteParser, parse_request
from ctrl.targets.ovs.journal import Journal
from ctrl.targets.ovs.ofcodec import PacketIn as OfPacketIn
from ctrl.targets.ovs.openflow import OpenFlowConnection
from ctrl.targets.ovs.pipeline import GreLayout
from ctrl.targets.ovs.store import EntryStore, Key, Plan, Stored
from ctrl.targets.ovs.underlay import Underlay
from ctrl.targets.ovs.validate import Rejected, check_program

log = logging.getLogger(__name__)

PURGE_TIMEOUT = 10.0  # s, for revalidator/purge's answer
PacketInSink = Callable[[p4r.PacketIn], None]
StateSink = Callable[[str | None], None]   # told `Device.down` each time it changes
ParserFactory = Callable[[P4Schema], WriteParser | None]


@dataclass(slots=True)
class Pipeline:
    schema: P4Schema
    config: p4r.ForwardingPipelineConfig
    store: EntryStore
    parser: WriteParser | None = None  # Writes as bytes, decoded by C; None: protobuf


@dataclass(slots=True)
class Device:
    device_id: int
    bridge: str
    mgmt_socket: Path
    vswitchd_ctl: Path | None = None
    underlay: Underlay | None = None  # None: no GRE on this bridge
    conn: OpenFlowConnection | None = None
    pipeline: Pipeline | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    packet_in_sink: PacketInSink | None = None
    journal: Journal | None = None  # None: what it holds dies with the process
    down: str | None = None  # why it cannot serve now (its ovs-vswitchd is gone); None: it can
    state_sink: StateSink | None = None
    lost: asyncio.Event = field(default_factory=asyncio.Event)  # the OpenFlow connection broke
    # True: a Write's answer waits for the purge's (DPDK's datapath: see `write`)
    answer_after_purge: bool = False
    # megaflow purges sent, their answers awaited here (`write`, `purged`)
    _purges: set[asyncio.Task[None]] = field(default_factory=set, repr=False)
    _ctl: unixctl.Connection | None = field(default=None, repr=False)  # the purges' own

    async def open(self) -> None:
        await self._connect()
        if self.underlay is not None:
            await self.underlay.open()

    async def _connect(self) -> None:
        self.lost.clear()
        conn = OpenFlowConnection(self.mgmt_socket, self.bridge)
        conn.on_packet_in = self._on_packet_in
        conn.on_lost = self.lost.set
        await conn.open()
        self.conn = conn

    def _set_down(self, reason: str | None) -> None:
        if reason != self.down:
            self.down = reason
            if self.state_sink is not None:
                self.state_sink(reason)

    async def detach(self, reason: str) -> None:
        """Out of service for `reason` (told to the server at once); the connections
        closed; the pipeline, entries and journal kept for `reattach`."""
        self._set_down(reason)
        for task in list(self._purges):  # no answer comes from an ovs-vswitchd that is gone
            task.cancel()
        await self._close_ctl()
        if self.underlay is not None:
            await self.underlay.close(keep=True)
        if self.conn is not None:
            await self.conn.close()
            self.conn = None

    async def reattach(self) -> int:
        """Back in service on an ovs-vswitchd that runs again: connected, and the bridge
        (and its underlay) made to hold what this device held, as `restore` does from a
        journal; the number of OpenFlow messages that took."""
        await self._connect()
        if self.underlay is not None:
            await self.underlay.reopen()
        repairs = 0
        async with self.lock:
            if self.pipeline is not None:
                repairs = await self._repair(self.pipeline.store)
        self._set_down(None)
        return repairs

    async def close(self, keep: bool = False) -> None:
        """Disconnect; `keep`: leave the underlay's addresses and routes and the journal
        for the next process (the bridge's flows stay either way, until it is deleted)."""
        await self.purged()
        await self._close_ctl()
        if self.underlay is not None:
            await self.underlay.close(keep)
        if self.conn is not None:
            await self.conn.close()
        if self.journal is not None:
            if keep:
                self.journal.close()
            else:
                self.journal.remove()

    async def restore(self, reference: P4Schema, make_parser: ParserFactory) -> bool:
        """Take up what the journal kept (False: nothing to take up), and make the bridge
        hold exactly that, in place: see the module's docstring."""
        saved = self.journal.load() if self.journal is not None else None
        if saved is None or self.journal is None:
            return False
        schema = P4Schema(saved.config.p4info)
        try:
            check_program(schema, reference)
        except Rejected as exc:
            log.warning("bridge %s: the journal's pipeline is not ours: %s", self.bridge, exc)
            return False
        store = EntryStore.of_saved(schema, self.gre, saved)
        async with self.lock:
            repairs = await self._repair(store)
            self.pipeline = Pipeline(schema, saved.config, store, make_parser(schema))
            self.journal.reset(saved.config, store.snapshot())
        log.info("bridge %s: pipeline and %d entries, %d groups taken up from %s (device %d); "
                 "%d OpenFlow messages to repair the bridge", self.bridge, len(store.entries),
                 len(store.groups), self.journal.path, self.device_id, repairs)
        return True

    async def _repair(self, store: EntryStore) -> int:
        """The bridge and its underlay made to hold exactly `store`, touching only what
        differs (one bundle); how many OpenFlow messages that took. Under the lock."""
        conn = self._connection()
        flows: dict[int, int] = {}
        for st in await conn.flow_stats():
            flows[st.cookie] = flows.get(st.cookie, 0) + 1
        want = _underlay_state(store, {})
        if self.underlay is not None:
            await self.underlay.apply(want)
        repairs = store.restore_messages(pipeline.pipeline_flows(self.gre), flows)
        await conn.apply(repairs)
        if self.underlay is not None:
            await self.underlay.prune(want)
        if repairs:  # megaflows of what was there may be stale now
            await self._unixctl("revalidator/purge")
        return len(repairs)

    @property
    def gre(self) -> GreLayout | None:
        return self.underlay.layout if self.underlay is not None else None

    def _connection(self) -> OpenFlowConnection:
        if self.conn is None:
            raise OvsError(f"bridge {self.bridge}: not connected")
        return self.conn

    async def set_pipeline(self, schema: P4Schema, config: p4r.ForwardingPipelineConfig,
                           parser: WriteParser | None = None, reconcile: bool = False
                           ) -> None:
        """A new pipeline, the forwarding state cleared (VERIFY_AND_COMMIT); `reconcile`
        (RECONCILE_AND_COMMIT): the entries kept, as they are on the bridge. Either is
        mobility.p4 (check_program), so the entries hold in both."""
        async with self.lock:
            if reconcile and self.pipeline is not None:
                store = self.pipeline.store
                store.schema = schema
            else:
                await self._connection().apply(pipeline.base_flows(self.gre))
                store = EntryStore(schema, self.gre)
                if self.underlay is not None:
                    await self.underlay.settle(tunnel.UnderlayState())
            self.pipeline = Pipeline(schema, config, store, parser)
            if self.journal is not None:
                self.journal.reset(config, store.snapshot())
        log.info("bridge %s: mobility.p4 pipeline %s (device %d)", self.bridge,
                 "reconciled" if reconcile else "installed", self.device_id)

    async def write(self, request: p4r.WriteRequest | DecodedWrite, rollback: bool) -> Plan:
        """Validate the updates (decoded by the pipeline's parser, or by protobuf), send
        the messages in one bundle, wait for the barrier, then record. Then purge the
        datapath's flow cache: until the revalidators run, it may hold megaflows from the old
        tables (a drop for a destination just added), and frames would still follow them.
        One purge per Write costs well under a millisecond in ovs-vswitchd (~0.5 us an
        entry in batches of 1,000). `revalidator/wait` would not do: it answers when the
        dump that is under way ends, and that dump may have begun before the bundle.

        The purge is sent, not awaited (`_purge`): it is in ovs-vswitchd's unixctl socket
        before the Write's answer leaves, after the barrier, so its main loop runs it after
        the commit and before anything the answer can set off reaches any switch (the
        answer's way back and the next Write's way in take milliseconds; a main-loop turn
        takes microseconds). Each Write that changed flows sends its own, after its own
        bundle, so a Write never relies on a purge that may have run before its commit.
        Awaiting the answer cost the Write ~1.3 ms (issue 16, item 4); traffic followed
        the new flows 0.4 ms after the commit, before the answer came. That holds on the
        netdev datapath, whose upcalls run in the main thread itself; on DPDK's
        (`answer_after_purge`) the answer still waits for the purge, as below. What it gives
        up: an ovs-vswitchd held off the CPU for as long as the answer's way and the next
        step's Write take forwards, in the first main-loop pass after, the frames waiting
        by then before it serves the purge (a pass runs the datapath before unixctl), by the
        megaflows they find.

        On DPDK's datapath the purge's answer comes later: after a flow table change
        ovs-vswitchd's main thread waits for an RCU grace period (ofproto-dpif's
        type_run: xlate_txn_commit, ovsrcu_synchronize) before it serves anything else,
        unixctl included, and OVS 3.1's PMD quiesces only every 10 ms while it sleeps
        (pmd-maxsleep): 0-10 ms more per Write. That wait is also what makes the purge
        sound: a PMD upcall that began before the commit, with the old tables, has
        installed its megaflow by then (README, "OVS-DPDK", for what was tried). Answered
        before that, a Write would let the next step of a move (make-before-break) send
        frames into stale megaflows for up to 10 ms.

        GRE entries need addresses, routes and neighbours too: those of the entries as they
        will be are put in place first, what only the old ones needed goes last."""
        assert self.pipeline is not None
        async with self.lock:
            t = [time.perf_counter()]
            store = self.pipeline.store
            pl = self.pipeline
            plan = store.plan(parse_request(request, pl.schema, pl.parser), rollback)
            underlay = self.underlay if _touches_gre(plan.changes) else None
            t.append(time.perf_counter())
            try:
                if underlay is not None:
                    await underlay.apply(_underlay_state(store, plan.changes))
                t.append(time.perf_counter())
                await self._connection().apply(plan.messages)
                t.append(time.perf_counter())
                self._record(plan)
            finally:
                if underlay is not None:
                    await underlay.settle(_underlay_state(store, {}))
            t.append(time.perf_counter())
            if plan.messages:  # nothing sent: no flow changed, no megaflow went stale
                await self._purge()
                if self.answer_after_purge:
                    await self.purged()
            t.append(time.perf_counter())
            if log.isEnabledFor(logging.DEBUG):
                ms = [(b - a) * 1e3 for a, b in itertools.pairwise(t)]
                log.debug("bridge %s: %d messages in %.1f ms: plan %.1f, underlay %.1f, "
                          "OpenFlow %.1f, underlay after %.1f, purge %.1f", self.bridge,
                          len(plan.messages), (t[-1] - t[0]) * 1e3, *ms)
            return plan

    def _record(self, plan: Plan) -> None:
        """Commit the plan to the store, and its change to the journal."""
        assert self.pipeline is not None
        store = self.pipeline.store
        if self.journal is None or not (plan.changes or plan.group_changes or plan.ovs_groups):
            plan.commit()
            return
        change = plan.change(store)
        plan.commit()
        if self.journal.append(change, len(store.entries)):
            self.journal.reset(self.pipeline.config, store.snapshot())

    async def _purge(self) -> None:
        """`revalidator/purge` sent on this device's unixctl connection (kept open: a
        new one costs ~0.2 ms); its answer awaited by a task of the device's."""
        if self.vswitchd_ctl is None:
            return
        if self._ctl is None or self._ctl.path != self.vswitchd_ctl:
            await self._close_ctl()
            self._ctl = unixctl.Connection(self.vswitchd_ctl)
        try:
            reply = await self._ctl.send("revalidator/purge")
        except (OSError, OvsError) as exc:
            log.debug("bridge %s: revalidator/purge: %s", self.bridge, exc)
            return
        task = asyncio.create_task(self._answer(reply), name=f"purge-{self.bridge}")
        self._purges.add(task)
        task.add_done_callback(self._purges.discard)

    async def _answer(self, reply: asyncio.Future[str]) -> None:
        try:
            await asyncio.wait_for(reply, PURGE_TIMEOUT)
        except TimeoutError:  # the requests behind it would wait as long: a new connection
            log.warning("bridge %s: revalidator/purge unanswered in %g s", self.bridge,
                        PURGE_TIMEOUT)
            await self._close_ctl()
        except (OSError, OvsError) as exc:
            log.debug("bridge %s: revalidator/purge: %s", self.bridge, exc)

    async def _close_ctl(self) -> None:
        if self._ctl is not None:
            ctl, self._ctl = self._ctl, None
            await ctl.close()

    async def purged(self) -> None:
        """Once every purge sent so far has been answered."""
        while self._purges:
            await asyncio.gather(*self._purges, return_exceptions=True)

    async def _unixctl(self, command: str) -> None:
        """`ovs-appctl COMMAND` over the unixctl socket (no process)."""
        if self.vswitchd_ctl is None:
            return
        try:
            await unixctl.call(self.vswitchd_ctl, command)
        except (OSError, OvsError) as exc:
            log.debug("bridge %s: %s: %s", self.bridge, command, exc)

    async def counters(self) -> dict[int, CounterData]:
        """Direct counters: flow statistics summed per entry cookie."""
        # Push the datapath's statistics into the flow table first.
        await self._unixctl("revalidator/wait")
        sums: dict[int, list[int]] = {}
        for st in await self._connection().flow_stats():
            if st.cookie:
                acc = sums.setdefault(st.cookie, [0, 0])
                acc[0] += st.packets
                acc[1] += st.bytes
        return {c: CounterData(p, b) for c, (p, b) in sums.items()}

    async def packet_out(self, payload: bytes, egress_port: int, mcast_grp: int) -> None:
        assert self.pipeline is not None
        if self.down is not None:
            log.debug("bridge %s: packet-out while %s: dropped", self.bridge, self.down)
            return
        if mcast_grp and mcast_grp not in self.pipeline.store.groups:
            log.debug("bridge %s: packet-out to missing group %d dropped", self.bridge,
                      mcast_grp)
            return
        await self._connection().packet_out(
            pipeline.packet_out_actions(egress_port, mcast_grp), payload)

    def _on_packet_in(self, pi: OfPacketIn) -> None:
        if self.pipeline is None or self.packet_in_sink is None:
            return
        meta = self.pipeline.schema.packet_metadata.get("packet_in")
        if meta is None:
            return
        values = {"ingress_port": pi.fields.get("in_port", 0),
                  "reason": pi.fields.get(pipeline.REG_REASON, 0),
                  "vnet_id": pi.fields.get(pipeline.REG_VNET, 0)}
        msg = p4r.PacketIn(payload=pi.data)
        for f in meta.fields:
            value = values.get(f.name, 0) & ((1 << f.bitwidth) - 1)
            msg.metadata.add(metadata_id=f.id,
                             value=encode_value(value, f.bitwidth, f"packet_in.{f.name}"))
        self.packet_in_sink(msg)


def _touches_gre(changes: dict[Key, Stored | None]) -> bool:
    return any(table in pipeline.GRE_TABLES for table, _ in changes)


def _underlay_state(store: EntryStore, changes: dict[Key, Stored | None]
                    ) -> tunnel.UnderlayState:
    return tunnel.underlay_state(e for e in store.entries_with(changes)
                                 if e.table in pipeline.GRE_TABLES)
