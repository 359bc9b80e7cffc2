"""An asyncio P4Runtime client for one device: arbitration, pipeline, Write, Read, packet I/O.

    async with P4Client("127.0.0.1:9559", device_id=1, election_id=(0, 1)) as sw:
        await sw.set_pipeline(schema, bmv2_json)
        await sw.write([insert(entry)])

One stream per client; the stream's reader task belongs to the client and is
cancelled on close. `closed` is set when the stream ends, whichever side ends
it, with `close_reason`; `is_primary` follows the switch's arbitration updates.
Errors of any RPC are raised as P4RuntimeError. The stream's messages come as bytes:
a packet-in is kept as it came, for the C decoder (ctrl/fastpath/stream.py), and anything
else is read with protobuf here. On a plaintext channel the stream is read in C where
ctrl._grpcstream is built (ctrl/p4rt/cstream.py: a thread of its own reads, the loop
takes what waits in one go); with TLS, or where it is not built, grpcio reads it, one
message at a time. Packet-ins go to `on_packets` where one is set: every one waiting
(with grpcio, once the reads gRPC has answered meanwhile have run: one turn of the
loop), so a flood comes in batches and a lone RARP at once; else `packet_batch()` and
`packet_in()` take them.
Write sends the request's bytes,
made by ctrl/p4rt/wire.py (what protobuf would serialize, at a seventh of the cost
of building the messages and serializing them with upb), through a Write method
without a request serializer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from types import TracebackType

import grpc
from google.protobuf.message import DecodeError

from ctrl.errors import MobilityError, P4EncodeError, P4SchemaError
from ctrl.fastpath.stream import Joined
from ctrl.p4rt import cstream
from ctrl.p4rt.cstream import CStream, Taken
from ctrl.p4rt.entity import Entity, PacketIn, PacketOut, Update, decode_entity
from ctrl.p4rt.errors import P4RuntimeError
from ctrl.p4rt.proto import (
    READ_METHOD,
    STREAM_METHOD,
    WRITE_METHOD,
    p4i,
    p4r,
    p4r_grpc,
    rpc_code,
    rpc_status,
)
from ctrl.p4rt.schema import P4Schema
from ctrl.p4rt.wire import WriteEncoder

log = logging.getLogger(__name__)

ElectionId = tuple[int, int]  # (high, low)
# A channel of its own subchannels: gRPC shares them between a process's channels by
# default, and a shared one that failed waits out its own back-off (1 s, then x1.6 to
# 120 s), so a new channel to a switch agent that is back was refused at once, for
# seconds. The session's reconnect loop is the back-off.
CHANNEL_OPTIONS = (("grpc.use_local_subchannel_pool", 1),)
SENT_KEPT = 4096   # packet-out messages kept for sending again
# A serialized StreamMessageResponse whose first field is `packet` (2, length-delimited)
# starts with this byte: the packet-ins that protobuf writes.
PACKET_FIRST = b"\x12"


_STATUS = {c.value[0]: c for c in grpc.StatusCode}   # grpc_status_code -> StatusCode


class ArbitrationError(MobilityError):
    """The switch did not accept the client's arbitration request."""


class P4Client:
    def __init__(self, address: str, device_id: int = 1, election_id: ElectionId = (0, 1),
                 name: str | None = None, packet_queue_size: int = 10_000,
                 credentials: grpc.ChannelCredentials | None = None,
                 c_stream: bool | None = None) -> None:
        self.address = address
        self.credentials = credentials   # TLS (ctrl/p4rt/tls.py); None: plaintext
        # The stream read in C (plaintext only); None: where ctrl._grpcstream is built.
        self.c_stream = (credentials is None and cstream.available() if c_stream is None
                         else c_stream and credentials is None)
        self._cstream: CStream | None = None
        self._c_lost = 0   # messages the C stream lost (no memory), as of its last batch
        self.device_id = device_id
        self.election_id = election_id
        self.name = name or address
        self.schema: P4Schema | None = None
        self.is_primary = False
        self._channel: grpc.aio.Channel | None = None
        self._stub: p4r_grpc.P4RuntimeStub | None = None
        self._write: grpc.aio.UnaryUnaryMultiCallable | None = None  # Write, of bytes
        self._encoder: WriteEncoder | None = None
        self._outbox: asyncio.Queue[p4r.StreamMessageRequest | None] = asyncio.Queue()
        self._sent: dict[object, p4r.StreamMessageRequest] = {}   # packet-outs, made once
        self._sent_schema: P4Schema | None = None
        self._packets: list[bytes] = []   # packet-ins as they came, not yet handed over
        self._packets_ready = asyncio.Event()
        self.packet_queue_size = packet_queue_size
        self.dropped_packet_ins = 0        # the queue was full
        self._first_at = 0.0               # when the first packet-in waiting came
        self.batch_at = 0.0                # that, for the batch handed over last
        # Handed every packet-in waiting and when the first came (time.monotonic()).
        self.on_packets: Callable[[Joined, float], None] | None = None
        self._arbitration: asyncio.Queue[p4r.MasterArbitrationUpdate] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self.close_reason = ""
        self.primary_changed = asyncio.Event()   # set when is_primary flips; the reader clears
        # Told why at once when the switch's side ends the stream (before `closed` wakes
        # anyone), so a status read right then already says so.
        self.on_broken: Callable[[str], None] | None = None
        self._log = logging.LoggerAdapter(log, {"switch": self.name})
        # dropped: metadata the P4Info does not allow, or a stream message protobuf cannot
        # read (a packet-in broken on the way, most likely)
        self.malformed_packet_ins = 0

    @property
    def is_open(self) -> bool:
        """Connected, with the stream up."""
        return self._channel is not None and not self.closed.is_set()

    def _closed(self, reason: str, *, ours: bool = False) -> None:
        if not self.closed.is_set():
            self.close_reason = reason
            self.is_primary = False
            self.closed.set()
            if not ours and self.on_broken is not None:
                self.on_broken(reason)

    # -- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> P4Client:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def open(self, timeout: float = 10.0) -> None:
        """Connect, open the stream and send arbitration; wait for the switch's answer."""
        self.closed.clear()
        self.close_reason = ""
        self._channel = (
            grpc.aio.insecure_channel(self.address, options=CHANNEL_OPTIONS)
            if self.credentials is None
            else grpc.aio.secure_channel(self.address, self.credentials, options=CHANNEL_OPTIONS))
        self._stub = p4r_grpc.P4RuntimeStub(self._channel)
        self._write = self._channel.unary_unary(
            WRITE_METHOD, request_serializer=None,
            response_deserializer=p4r.WriteResponse.FromString)
        if self.c_stream:
            self._open_cstream()
        else:
            stream = self._channel.stream_stream(
                STREAM_METHOD, request_serializer=p4r.StreamMessageRequest.SerializeToString,
                response_deserializer=None)
            call = stream(self._requests())
            self._reader = asyncio.create_task(self._read_stream(call),
                                               name=f"{self.name}:stream")
        await self._outbox.put(self._arbitration_request())
        try:
            update = await asyncio.wait_for(self._arbitration.get(), timeout)
        except TimeoutError as exc:
            await self.close()
            raise ArbitrationError(f"{self.name}: no arbitration answer in {timeout} s") from exc
        self.primary_changed.clear()   # the first answer is where it starts, not a change
        if update.status.code == rpc_code.UNAVAILABLE:
            await self.close()
            raise ArbitrationError(f"{self.name}: cannot reach {self.address}: "
                                   f"{update.status.message}")
        if update.status.code not in (rpc_code.OK, rpc_code.ALREADY_EXISTS):
            await self.close()
            raise ArbitrationError(
                f"{self.name}: arbitration refused: {rpc_code.Code.Name(update.status.code)}: "
                f"{update.status.message}"
            )

    async def close(self) -> None:
        self._closed("closed by the controller", ours=True)
        if self._reader is not None:
            await self._outbox.put(None)
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        self._close_cstream()
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
            self._write = None

    async def rearbitrate(self, election_id: ElectionId) -> None:
        """Another election id on the open stream (a controller becoming the leader, or
        stepping down): the switch answers with who is primary now (`is_primary`
        follows, `primary_changed` is set when it flips). Writes use the new id."""
        self.election_id = election_id
        await self._outbox.put(self._arbitration_request())

    async def arbitrate(self, election_id: ElectionId, timeout: float = 5.0) -> bool:
        """`rearbitrate`, then wait for the switch's answer: True when it makes this client
        primary. A Write sent after this carries an id the switch knows."""
        while not self._arbitration.empty():
            self._arbitration.get_nowait()
        await self.rearbitrate(election_id)
        try:
            await asyncio.wait_for(self._arbitration.get(), timeout)
        except TimeoutError as exc:
            raise ArbitrationError(f"{self.name}: no arbitration answer in {timeout} s") from exc
        return self.is_primary

    def _arbitration_request(self) -> p4r.StreamMessageRequest:
        high, low = self.election_id
        return p4r.StreamMessageRequest(
            arbitration=p4r.MasterArbitrationUpdate(
                device_id=self.device_id, election_id=p4r.Uint128(high=high, low=low)
            )
        )

    async def _requests(self) -> AsyncIterator[p4r.StreamMessageRequest]:
        while True:
            msg = await self._outbox.get()
            if msg is None:
                return
            yield msg

    async def _read_stream(self, call: grpc.aio.StreamStreamCall) -> None:
        try:
            async for data in call:
                if data[:1] == PACKET_FIRST:   # a packet-in: read in its batch
                    self._packet(data)
                else:
                    self._other(data)
            self._closed("the switch ended the stream")
        except grpc.aio.AioRpcError as exc:
            self._broken(exc.code(), exc.details() or "")

    def _packet(self, data: bytes) -> None:
        """One packet-in, as it came, to the batch waiting."""
        if self.schema is None:
            self._log.warning("packet-in before any pipeline is known: dropped")
        elif len(self._packets) < self.packet_queue_size:
            if not self._packets:
                self._first_at = time.monotonic()
                self._waiting()
            self._packets.append(data)
        else:
            self._dropped(1)

    def _dropped(self, n: int) -> None:
        before, self.dropped_packet_ins = self.dropped_packet_ins, self.dropped_packet_ins + n
        if before >> 10 != self.dropped_packet_ins >> 10 or before == 0:
            self._log.warning("packet-in queue full: %d frames dropped so far",
                              self.dropped_packet_ins)

    def _other(self, data: bytes) -> None:
        """A message that is no packet-in as protobuf writes one: protobuf reads it."""
        try:
            msg = p4r.StreamMessageResponse.FromString(data)
        except DecodeError as exc:
            self.malformed_packet_ins += 1
            self._log.warning("stream message protobuf cannot read: dropped: %s", exc)
            return
        self._on_message(msg, data)

    def _broken(self, code: grpc.StatusCode, details: str) -> None:
        if code != grpc.StatusCode.CANCELLED:
            self._log.warning("stream closed: %s: %s", code.name, details)
            self._arbitration.put_nowait(
                p4r.MasterArbitrationUpdate(
                    status=rpc_status.Status(code=rpc_code.UNAVAILABLE,
                                             message=details or "stream closed")
                )
            )
        self._closed(f"stream broken: {code.name}: {details}")

    # -- the stream read in C (ctrl/p4rt/cstream.py) --------------------------------

    def _open_cstream(self) -> None:
        try:
            stream = CStream.open(self.address, STREAM_METHOD, self.packet_queue_size)
        except cstream.StreamOpenError as exc:
            raise ArbitrationError(f"{self.name}: cannot open the stream to "
                                   f"{self.address}: {exc}") from exc
        self._cstream = stream
        self._c_lost = 0
        asyncio.get_running_loop().add_reader(stream.fd, self._take_cstream)
        self._reader = asyncio.create_task(self._send_cstream(stream),
                                           name=f"{self.name}:stream")

    async def _send_cstream(self, stream: CStream) -> None:
        """The outbox's messages onto the C stream, in order, until it is closed."""
        while (msg := await self._outbox.get()) is not None:
            if not stream.send(msg.SerializeToString()):
                return   # the stream has ended: its end is being read

    def _take_cstream(self) -> None:
        """Everything the C stream has read: packet-ins as one batch, the rest one by one
        (arbitration at once), and its end."""
        stream = self._cstream
        if stream is None:
            return
        taken = stream.take()
        for data in taken.others:
            self._other(data)
        if taken.lost > self._c_lost:
            self._log.error("the stream lost %d messages: no memory to keep them",
                            taken.lost - self._c_lost)
            self._c_lost = taken.lost
        if taken.packet_lens:
            self._packets_taken(taken)
        if taken.ended:
            self._close_cstream()
            if taken.code == 0:
                self._closed("the switch ended the stream")
            else:
                self._broken(_STATUS.get(taken.code, grpc.StatusCode.UNKNOWN), taken.message)

    def _packets_taken(self, taken: Taken) -> None:
        if self.schema is None:
            self._log.warning("%d packet-ins before any pipeline is known: dropped",
                              len(taken.packet_lens))
            return
        joined = Joined(taken.packets, taken.packet_lens)
        if self.on_packets is not None and not self._packets:
            self.batch_at = taken.first_at
            self.on_packets(joined, taken.first_at)
            return
        for data in joined.split():   # for packet_batch() and packet_in(), as grpcio's
            self._packet(data)

    def _close_cstream(self) -> None:
        stream, self._cstream = self._cstream, None
        if stream is not None:
            with contextlib.suppress(RuntimeError):   # the loop may be closed already
                asyncio.get_running_loop().remove_reader(stream.fd)
            stream.close()

    def _waiting(self) -> None:
        """The first packet-in of a batch is in."""
        if self.on_packets is not None:
            asyncio.get_running_loop().call_soon(self._hand_over)
        else:
            self._packets_ready.set()

    def _hand_over(self) -> None:
        out, self._packets = self._packets, []
        self.batch_at = self._first_at
        if out and self.on_packets is not None:
            self.on_packets(Joined.of(out), self._first_at)

    def _on_message(self, msg: p4r.StreamMessageResponse, data: bytes) -> None:
        kind = msg.WhichOneof("update")
        if kind == "arbitration":
            primary = msg.arbitration.status.code == rpc_code.OK
            if primary != self.is_primary:
                self.is_primary = primary
                self.primary_changed.set()
            self._arbitration.put_nowait(msg.arbitration)
        elif kind == "packet":   # written another way than protobuf writes it
            if self.schema is not None and len(self._packets) < self.packet_queue_size:
                if not self._packets:
                    self._first_at = time.monotonic()
                    self._waiting()
                self._packets.append(data)
        elif kind == "error":
            self._log.warning("stream error from switch: %s", msg.error)

    @property
    def stub(self) -> p4r_grpc.P4RuntimeStub:
        if self._stub is None:
            raise MobilityError(f"{self.name}: not connected")
        return self._stub

    def _election(self) -> p4r.Uint128:
        return p4r.Uint128(high=self.election_id[0], low=self.election_id[1])

    # -- pipeline -----------------------------------------------------------------

    async def set_pipeline(self, schema: P4Schema, device_config: bytes) -> None:
        """SetForwardingPipelineConfig(VERIFY_AND_COMMIT) with a P4Info and the target's config."""
        request = p4r.SetForwardingPipelineConfigRequest(
            device_id=self.device_id,
            election_id=self._election(),
            action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT,
            config=p4r.ForwardingPipelineConfig(p4info=schema.p4info,
                                                p4_device_config=device_config),
        )
        try:
            await self.stub.SetForwardingPipelineConfig(request)
        except grpc.aio.AioRpcError as exc:
            raise P4RuntimeError.wrap("SetForwardingPipelineConfig", exc) from None
        self.schema = schema

    async def get_pipeline(self) -> P4Schema | None:
        """The switch's P4Info, or None when it has no pipeline."""
        p4info = await self.get_p4info()
        return None if p4info is None else P4Schema(p4info)

    async def get_p4info(self) -> p4i.P4Info | None:
        """The switch's P4Info as it sent it (no schema made: a controller checking 320
        switches runs mobility.p4 compares it), or None when it has no pipeline."""
        request = p4r.GetForwardingPipelineConfigRequest(
            device_id=self.device_id,
            response_type=p4r.GetForwardingPipelineConfigRequest.P4INFO_AND_COOKIE,
        )
        try:
            reply = await self.stub.GetForwardingPipelineConfig(request)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                return None
            raise P4RuntimeError.wrap("GetForwardingPipelineConfig", exc) from None
        if not reply.config.HasField("p4info"):
            return None
        p4info: p4i.P4Info = reply.config.p4info
        return p4info

    def _schema(self) -> P4Schema:
        if self.schema is None:
            raise MobilityError(f"{self.name}: no pipeline: set or read one first")
        return self.schema

    # -- write and read -----------------------------------------------------------

    async def write(self, updates: Sequence[Update],
                    atomicity: int = p4r.WriteRequest.CONTINUE_ON_ERROR) -> None:
        """One Write RPC with all `updates`; on failure the per-update errors are kept."""
        if not updates:
            return
        schema = self._schema()
        if self._encoder is None or self._encoder.schema is not schema:
            self._encoder = WriteEncoder(schema)
        await self._send_write(self._encoder.request(
            updates, device_id=self.device_id, election_id=self.election_id,
            atomicity=atomicity))

    async def _send_write(self, data: bytes) -> None:
        """One Write RPC of a serialized WriteRequest."""
        if self._write is None:
            raise MobilityError(f"{self.name}: not connected")
        try:
            await self._write(data)
        except grpc.aio.AioRpcError as exc:
            raise P4RuntimeError.wrap("Write", exc) from None

    async def read(self, entities: Iterable[p4r.Entity]) -> list[Entity]:
        """Read entities given as wildcard or exact `p4.v1.Entity` messages."""
        schema = self._schema()
        request = p4r.ReadRequest(device_id=self.device_id)
        request.entities.extend(entities)
        out: list[Entity] = []
        try:
            async for reply in self.stub.Read(request):
                out.extend(decode_entity(e, schema) for e in reply.entities)
        except grpc.aio.AioRpcError as exc:
            raise P4RuntimeError.wrap("Read", exc) from None
        return out

    async def read_raw(self, request: p4r.ReadRequest) -> list[bytes]:
        """Read, the ReadResponses as they came (bytes, not parsed: see
        ctrl/control/held.py)."""
        if self._channel is None:
            raise MobilityError(f"{self.name}: not connected")
        call = self._channel.unary_stream(READ_METHOD,
                                          request_serializer=p4r.ReadRequest.SerializeToString,
                                          response_deserializer=None)
        try:
            return [bytes(reply) async for reply in call(request)]
        except grpc.aio.AioRpcError as exc:
            raise P4RuntimeError.wrap("Read", exc) from None

    async def read_table(self, table: str, counters: bool = False) -> list[Entity]:
        """Every entry of one table (with its direct counter when `counters`)."""
        entry = p4r.TableEntry(table_id=self._schema().tables[table].id)
        if counters:
            entry.counter_data.CopyFrom(p4r.CounterData())
        return await self.read([p4r.Entity(table_entry=entry)])

    async def read_multicast_groups(self) -> list[Entity]:
        pre = p4r.PacketReplicationEngineEntry(multicast_group_entry=p4r.MulticastGroupEntry())
        return await self.read([p4r.Entity(packet_replication_engine_entry=pre)])

    # -- packet I/O -----------------------------------------------------------------

    async def packet_out(self, packet: PacketOut) -> None:
        """Send a frame out; the message of one sent before (LLDP, the same frames every
        interval) is made once."""
        schema = self._schema()
        key = (packet.payload, tuple(sorted(packet.metadata.items())))
        msg = self._sent.get(key) if self._sent_schema is schema else None
        if msg is None:
            if self._sent_schema is not schema or len(self._sent) >= SENT_KEPT:
                self._sent.clear()
                self._sent_schema = schema
            msg = self._sent[key] = p4r.StreamMessageRequest(packet=packet.encode(schema))
        await self._outbox.put(msg)

    async def packet_batch(self) -> list[bytes]:
        """Every packet-in waiting (at least one), as serialized StreamMessageResponses,
        for ctrl.fastpath.stream's decoder."""
        while not self._packets:
            self._packets_ready.clear()
            await self._packets_ready.wait()
            await asyncio.sleep(0)   # the reads gRPC has answered meanwhile join the batch
        out, self._packets = self._packets, []
        self._packets_ready.clear()
        self.batch_at = self._first_at
        return out

    def has_packets(self) -> bool:
        return bool(self._packets)

    def packet_batch_nowait(self) -> list[bytes]:
        """Every packet-in waiting now (perhaps none)."""
        out, self._packets = self._packets, []
        self.batch_at = self._first_at
        return out

    async def packet_in(self, timeout: float | None = None) -> PacketIn:
        """The next punted frame, decoded one by one (tests, tools; the controller takes
        batches); TimeoutError when none comes in `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while True:
                if not self._packets:
                    self._packets_ready.clear()
                    await self._packets_ready.wait()
                    continue
                packet = self._decode(self._packets.pop(0))
                if packet is not None:
                    return packet

    def queued_packet_ins(self) -> int:
        """Packet-ins received and not handed over yet."""
        return len(self._packets)

    def drain_packet_ins(self) -> list[PacketIn]:
        out, self._packets = self._packets, []
        return [p for p in map(self._decode, out) if p is not None]

    def _decode(self, data: bytes) -> PacketIn | None:
        try:
            msg = p4r.StreamMessageResponse.FromString(data)
            return PacketIn.decode(msg.packet, self._schema())
        except (DecodeError, P4SchemaError, P4EncodeError) as exc:
            # A switch's bad metadata is its frame's fault, not the stream's.
            self.malformed_packet_ins += 1
            self._log.warning("malformed packet-in dropped: %s", exc)
            return None
