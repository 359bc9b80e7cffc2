"""One switch's P4Runtime session: connect, become primary, check the pipeline, read back,
sync, and keep it in sync, through every break.

`SwitchSession.run()` is the switch's one long-lived task. Each connection goes
through the same steps: stream open and arbitration; as primary, a sync:
GetForwardingPipelineConfig (mobility.p4 pushed where the switch runs another
program or none), every table read back, the difference to the wanted state
written; only then is the switch `in_sync`. A backup (another controller is
primary) keeps its stream open and writes nothing; promoted, it syncs. A write
the switch refuses puts it out of sync at once and a sync follows, retried with
back-off while it fails; a broken stream reconnects with capped, jittered
back-off. The status (`SessionStatus`) is what was last checked.

No mirror of every entry is kept (100,000 VMs' entries would be millions of objects):
what a switch in sync holds is the wanted state at the version its last sync read
(`synced_version`), plus the changes written since. A change carries the version of the
wanted state it leads to; one made before the last sync is in what that sync wrote and
is skipped. A change the switch refuses (it holds something else after all) costs a
resync, which reads everything back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import grpc

from ctrl.control.diff import Diff, compose_all
from ctrl.control.held import Held, HeldReader
from ctrl.control.topology import Switch
from ctrl.errors import MobilityError
from ctrl.fastpath.stream import Joined, PacketInDecoder, PuntBatch
from ctrl.p4rt.client import P4Client
from ctrl.p4rt.entity import Entity, PacketOut
from ctrl.p4rt.errors import P4RuntimeError
from ctrl.p4rt.schema import P4Schema
from ctrl.punt.classify import packet_in_spec

log = logging.getLogger(__name__)

# Every packet-in waiting when the handler runs comes in one batch, decoded and parsed
# by one call of the C fast path (ctrl.fastpath.stream), as columns. Called from the
# stream's reader: it does not wait for anything (plans are queued, not written).
PacketHandler = Callable[[str, PuntBatch], None]
# Packet-ins handed over at most this many at a time: the frames of a host not yet
# settled all come through within one part (the quiet filter's rule), so thousands at
# once (the stream read in C hands over all that waits) had the core look at more.
PART = 1024
Wanted = Callable[[], Sequence[Entity]]
Version = Callable[[], int]   # the wanted state's version now (ControlCore.version)
Part = tuple[int, Diff]       # a change, and the version of the wanted state it leads to
# Told what a switch holds, read back, before the sync diffs it against the wanted state
# (what switches hold says where hosts are after a restart).
ReadHandler = Callable[[str, Held], Awaitable[None]]


class SessionError(MobilityError):
    """A switch that cannot be written now: not connected, not primary, or it refused."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential back-off with jitter: the n-th retry after about
    first * factor**n seconds, never more than `limit`, each delay spread by ±`jitter`.
    The cap is low: a refused connection costs next to nothing, and a switch agent that
    is back (a restart, a crash) is found within `limit` s, not after a doubling that
    grew while it was away (10 s here once made a 1.4 s restart cost 4.8 s more)."""

    first: float = 0.1
    factor: float = 2.0
    limit: float = 0.5
    jitter: float = 0.2

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        base = min(self.limit, self.first * self.factor ** min(attempt, 64))
        return base * (1 + self.jitter * (2 * rng() - 1))


@dataclass(frozen=True, slots=True)
class SessionStatus:
    connected: bool
    primary: bool
    pipeline: str   # at the last check: "pushed", "kept" (it ran mobility.p4) or "" (none yet)
    in_sync: bool
    reconnects: int
    repairs: int
    malformed_packet_ins: int   # dropped: no PacketIn, metadata the P4Info does not allow,
    #                             a stream message protobuf cannot read
    writes: int            # updates written since the session began
    batches: int           # Write RPCs that carried them
    last_error: str
    last_error_at: float | None   # wall clock (time.time())


class SwitchSession:
    def __init__(self, switch: Switch, schema: P4Schema, device_config: bytes,
                 on_packets: PacketHandler, wanted: Wanted,
                 election_id: tuple[int, int] = (0, 1), backoff: Backoff | None = None,
                 on_change: Callable[[str], None] | None = None,
                 on_read: ReadHandler | None = None,
                 credentials: grpc.ChannelCredentials | None = None,
                 may_write: Callable[[], bool] | None = None,
                 on_denied: Callable[[str], None] | None = None,
                 version: Version | None = None, reader: HeldReader | None = None) -> None:
        self.switch = switch
        self.version = version or (lambda: 0)
        # HA (ctrl/ha): writes only while this controller leads, whatever the switch says;
        # told when a switch refuses a write as not primary (a later leader exists).
        self.may_write = may_write or (lambda: True)
        self.on_denied = on_denied
        self.schema = schema
        self.reader = reader or HeldReader(schema)   # a controller's switches share one
        self.device_config = device_config
        self.on_packets = on_packets
        self.wanted = wanted
        self.election_id = election_id
        self.backoff = backoff or Backoff()
        self.on_change = on_change   # told the switch's name when its status changes
        self.on_read = on_read
        self.credentials = credentials
        self.writes = 0
        self.batches = 0
        self.client: P4Client | None = None
        self.entries = 0           # what the switch holds, as counted since its last sync
        self.synced_version = -1   # the wanted state's version the last sync wrote
        self.pipeline = ""
        self.in_sync = False
        self.reconnects = 0
        self.repairs = 0     # writes refused, then repaired by a resync
        self._malformed_before = 0   # malformed packet-ins of the connections before this
        self._decoder = PacketInDecoder(packet_in_spec(schema))
        self._bad_packet_ins = 0     # no PacketIn, or metadata the P4Info does not allow
        self.last_error = ""
        self.last_error_at: float | None = None
        self._connections = 0
        self._lock = asyncio.Lock()
        self._resync = asyncio.Event()
        self._log = logging.LoggerAdapter(log, {"switch": switch.name})

    @property
    def name(self) -> str:
        return self.switch.name

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.is_open

    def status(self) -> SessionStatus:
        return SessionStatus(self.connected, self.connected and self._primary(),
                             self.pipeline, self.in_sync and self.connected, self.reconnects,
                             self.repairs, self.malformed_packet_ins(), self.writes,
                             self.batches, self.last_error, self.last_error_at)

    def backlog(self) -> int:
        """Packet-ins the switch sent that the controller has not taken yet."""
        return 0 if self.client is None else self.client.queued_packet_ins()

    def malformed_packet_ins(self) -> int:
        now = 0 if self.client is None else self.client.malformed_packet_ins
        return self._malformed_before + now + self._bad_packet_ins

    def _primary(self) -> bool:
        return self.client is not None and self.client.is_primary

    def _failed(self, what: str, exc: BaseException) -> None:
        self.last_error = f"{what}: {exc}"
        self.last_error_at = time.time()

    def _set_sync(self, value: bool) -> None:
        if value != self.in_sync:
            self.in_sync = value
            self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.name)

    # -- the session's life --------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected and in sync until `stop` is set."""
        attempt = 0
        while not stop.is_set():
            try:
                await self._connect()
            except (MobilityError, OSError) as exc:
                self._failed("connecting", exc)
                delay = self.backoff.delay(attempt)
                attempt += 1
                self._log.warning("%s: cannot connect (%s); retrying in %.1f s", self.name,
                                  exc, delay)
                await _wait(stop, delay)
                continue
            attempt = 0
            self._connections += 1
            if self._connections > 1:
                self.reconnects += 1
            self._log.info("%s: connected to %s as %s", self.name, self.switch.grpc_addr,
                           "primary" if self._primary() else "backup")
            self._changed()
            try:
                await self._serve(stop)
            finally:
                self._set_sync(False)
                client, self.client = self.client, None
                if client is not None:
                    self._malformed_before += client.malformed_packet_ins
                    await client.close()
                self._changed()
            if not stop.is_set():
                self._log.warning("%s: connection lost; reconnecting", self.name)

    async def _connect(self) -> None:
        """One connection: the stream and arbitration; the first sync is asked for (it
        runs when this controller is primary)."""
        client = P4Client(self.switch.grpc_addr, self.switch.device_id, self.election_id,
                          name=self.name, credentials=self.credentials)
        await client.open()
        if client.election_id != self.election_id:   # changed while it connected (HA)
            await client.arbitrate(self.election_id)
        async with self._lock:
            self.client, self.entries, self.pipeline = client, 0, ""
        if not client.is_primary:
            self._log.warning("%s: another controller is primary: a backup until it goes",
                              self.name)
        self._resync.set()

    async def _serve(self, stop: asyncio.Event) -> None:
        """Packet-ins to the handler (a task of their own), and resyncs when asked, until
        the stream breaks or `stop` is set."""
        assert self.client is not None
        client = self.client
        resyncs = asyncio.create_task(self._resync_loop(stop), name=f"{self.name}:sync")
        client.on_packets = self._packets
        client.on_broken = self._broken
        for messages in ([client.packet_batch_nowait()] if client.has_packets() else []):
            self._packets(Joined.of(messages), client.batch_at)   # came before it listened
        # The waits for the end and for arbitration last across turns (made anew for each,
        # four futures a frame cost a quarter of a core at 1,000 LLDP frames a second).
        stopping = asyncio.ensure_future(stop.wait())
        closed = asyncio.ensure_future(client.closed.wait())
        arbitration = asyncio.ensure_future(client.primary_changed.wait())
        try:
            while not stop.is_set() and client.is_open:
                done, _ = await asyncio.wait((stopping, closed, arbitration),
                                             return_when=asyncio.FIRST_COMPLETED)
                if arbitration in done:
                    arbitration = asyncio.ensure_future(client.primary_changed.wait())
                    client.primary_changed.clear()
                    self._changed()
                    if client.is_primary:
                        self._log.info("%s: primary now: syncing", self.name)
                    else:
                        self._log.warning("%s: another controller is primary now", self.name)
                    self.request_resync()
            if (not client.is_open and client.close_reason   # ended before it was told
                    and self.last_error != f"stream: {client.close_reason}"):
                self._failed("stream", MobilityError(client.close_reason))
        finally:
            client.on_packets = None
            client.on_broken = None
            for f in (stopping, closed, arbitration):
                if not f.done():
                    f.cancel()
            resyncs.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await resyncs

    def _broken(self, reason: str) -> None:
        self._failed("stream", MobilityError(reason))

    def _packets(self, messages: Joined, received: float) -> None:
        """Every packet-in waiting, decoded and parsed a part at a time (one C call each),
        to the handler: a host learned in one part is settled for the next."""
        for part in messages.parts(PART):
            try:
                batch = self._decoder.decode_joined(part)
                batch.received = received
                self._bad_packet_ins += batch.bad
                self.on_packets(self.name, batch)
            except MobilityError as exc:  # one bad frame or write stops nothing
                self._log.error("%s: handling %d packet-ins failed: %s", self.name, len(part),
                                exc)

    async def _resync_loop(self, stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set():
            await self._resync.wait()
            self._resync.clear()
            if not self._primary() or not self.may_write():
                continue   # a backup writes nothing; promoted, it is asked again
            try:
                written = await self.sync()
            except (MobilityError, OSError) as exc:
                self._failed("sync", exc)
                self._denied(exc)
                delay = self.backoff.delay(attempt)
                attempt += 1
                self._log.error("%s: sync failed (%s); again in %.1f s", self.name, exc, delay)
                await _wait(stop, delay)
                self._resync.set()
                continue
            attempt = 0
            self._log.info("%s: in sync (%d writes)", self.name, written)

    async def set_election_id(self, election_id: tuple[int, int]) -> None:
        """This controller's election id from now on (HA: the leader's is above every
        earlier leader's); told to the switch at once on an open stream."""
        self.election_id = election_id
        if self.client is not None and self.client.is_open:
            await self.client.arbitrate(election_id)
            self._changed()
            self.request_resync()

    def request_resync(self) -> None:
        self._set_sync(False)
        self._resync.set()

    # -- writes ------------------------------------------------------------------------

    async def sync(self) -> int:
        """The pipeline checked (pushed where it differs), everything read back, the
        difference to the wanted state written: in sync when every write succeeded."""
        async with self._lock:
            client = self._writable()
            current = await client.get_p4info()
            if current is None or current != self.schema.p4info:
                self._log.info("%s: pushing the mobility.p4 pipeline", self.name)
                await client.set_pipeline(self.schema, self.device_config)
                self.pipeline = "pushed"
            else:
                client.schema = self.schema
                self.pipeline = "kept"
            held = await self.reader.read(client)
            if self.on_read is not None:
                await self.on_read(self.name, held)
            version = self.version()
            change = held.diff(self.wanted())
            self.entries = len(held)
            del held
            await self._write(client, change)
            self.synced_version = version
            self._set_sync(True)
            return len(change)

    async def apply(self, change: Diff, version: int | None = None) -> int:
        """`change` written as it is, unless it leads to a version of the wanted state no
        later than the one the last sync wrote (then it is in there already: 0). A
        refusal puts the switch out of sync and asks for a resync; SessionError."""
        return await self.apply_parts([(version, change)])

    async def apply_parts(self, parts: Sequence[tuple[int | None, Diff]]) -> int:
        """Changes in order, as one Write: those made before the last sync skipped."""
        async with self._lock:
            client = self._writable()
            if not self.in_sync:   # the sync under way writes the wanted state, this too
                raise SessionError(f"{self.name}: not in sync yet (its sync is under way)")
            todo = [d for v, d in parts if v is None or v > self.synced_version]
            updates = todo[0] if len(todo) == 1 else compose_all(todo)
            try:
                await self._write(client, updates)
            except P4RuntimeError as exc:
                self._denied(exc)
                self.repairs += 1
                self._failed("write", exc)
                self._log.error("%s: write refused, resyncing: %s", self.name, exc)
                self.request_resync()
                raise SessionError(f"{self.name}: write refused: {exc}") from exc
            return len(updates)

    def _denied(self, exc: BaseException) -> None:
        if (isinstance(exc, P4RuntimeError) and self.on_denied is not None
                and exc.code == grpc.StatusCode.PERMISSION_DENIED):
            self.on_denied(self.name)

    def _writable(self) -> P4Client:
        if self.client is None or not self.client.is_open:
            raise SessionError(f"{self.name}: not connected")
        if not self.may_write():
            raise SessionError(f"{self.name}: this controller is a standby (HA)")
        if not self.client.is_primary:
            raise SessionError(f"{self.name}: this controller is not primary")
        return self.client

    async def _write(self, client: P4Client, change: Diff) -> None:
        updates = change.updates()
        if not updates:
            return
        await client.write(updates)
        self.writes += len(updates)
        self.batches += 1
        self.entries += len(change.inserts) - len(change.deletes)

    async def packet_out(self, port: int, frame: bytes) -> None:
        await self._sender().packet_out(PacketOut(frame, {"egress_port": port}))

    async def packet_outs(self, ports: Sequence[int], frames: bytes) -> None:
        """Frames of one size end to end, each out of its port (ctrl.control.plans.PacketOuts)."""
        await self._sender().packet_outs(ports, frames)

    def _sender(self) -> P4Client:
        if self.client is None or not self.client.is_open:
            raise SessionError(f"{self.name}: not connected")
        if self.client.schema is None or not self.may_write():
            raise SessionError(f"{self.name}: not synced as primary: no frame sent")
        return self.client


async def read_state(client: P4Client, schema: P4Schema) -> list[Entity]:
    """Every entry of every table (defaults aside) and every multicast group."""
    out: list[Entity] = []
    for table in schema.tables:
        out += [e for e in await client.read_table(table.name)
                if not getattr(e, "is_default", False)]
    out += await client.read_multicast_groups()
    return out


async def _wait(stop: asyncio.Event, delay: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), delay)

