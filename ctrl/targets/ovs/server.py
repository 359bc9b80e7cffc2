"""A P4Runtime gRPC server for mobility.p4 on Open vSwitch bridges, one device id each.

Arbitration follows the P4Runtime specification (section 5): per device and role,
the stream with the highest election id is primary; every stream hears who is.
Only the primary writes, sets the pipeline and sends packets out. A device whose
ovs-vswitchd is gone (`Device.down`) ends its streams UNAVAILABLE and answers every
request for it UNAVAILABLE until its flows are back: no client is told that a pipeline
forwards while the flows are gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

import grpc

from ctrl.fastpath import WriteDecodeError
from ctrl.p4rt.entity import CounterData, TableEntry
from ctrl.p4rt.proto import p4r, p4r_grpc, rpc_code, rpc_status
from ctrl.p4rt.schema import P4Schema
from ctrl.targets.ovs.device import Device, Pipeline
from ctrl.targets.ovs.errors import OvsError
from ctrl.targets.ovs.fastwrite import DecodedWrite, WriteParser
from ctrl.targets.ovs.openflow import BatchError
from ctrl.targets.ovs.rawrpc import MALFORMED, SERVICE, method_handlers
from ctrl.targets.ovs.status import batch_status
from ctrl.targets.ovs.store import Stored
from ctrl.targets.ovs.validate import Rejected, check_program, parse_table_entry

log = logging.getLogger(__name__)

API_VERSION = "1.4.1"
_CODES = {c.value[0]: c for c in grpc.StatusCode}
# Worded as the reference servers (PI's, in simple_switch_grpc) word them: clients match
# on them (finsy: "no .*forwarding pipeline config", "election id .*(used|exists)").
NO_PIPELINE = "No forwarding pipeline config set for this device"
ELECTION_ID_EXISTS = "Election id already exists"


def _uint128(eid: p4r.Uint128) -> int:
    return int((eid.high << 64) | eid.low)


def _eid(value: int) -> p4r.Uint128:
    return p4r.Uint128(high=value >> 64, low=value & ((1 << 64) - 1))


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(eq=False, slots=True)
class _Stream:
    peer: str
    queue: asyncio.Queue[p4r.StreamMessageResponse | _Abort | None] = field(
        default_factory=asyncio.Queue)
    device_id: int | None = None
    role: str = ""
    election_id: int = 0
    ending: bool = False  # aborted by the server: its reader's failure is no news


class P4RuntimeServicer(p4r_grpc.P4RuntimeServicer):  # type: ignore[misc]
    def __init__(self, devices: dict[int, Device], reference: P4Schema,
                 fast_writes: bool = True) -> None:
        self.devices = devices
        self.reference = reference
        self.fast_writes = fast_writes  # False: every Write through protobuf
        self.streams: list[_Stream] = []
        # (device id, role) -> its arbitrated streams: a packet-out or Write asks who is
        # primary, which a scan of every stream made cost 320 streams' worth (a sink)
        self._groups: dict[tuple[int, str], list[_Stream]] = {}
        self._last_parser: WriteParser | None = None  # the last pipeline's Write decoder
        for dev in devices.values():
            dev.packet_in_sink = lambda msg, d=dev.device_id: self._packet_in(d, msg)
            dev.state_sink = lambda reason, d=dev.device_id: self._device_state(d, reason)
            if dev.pipeline is not None and dev.pipeline.parser is not None:
                self._last_parser = dev.pipeline.parser  # taken up from a journal

    def make_parser(self, schema: P4Schema) -> WriteParser | None:
        """A pipeline's Write decoder (C), or None: Writes through protobuf."""
        return WriteParser.make(schema) if self.fast_writes else None

    # -- arbitration -------------------------------------------------------------------------
    def _group(self, device_id: int, role: str) -> list[_Stream]:
        return list(self._groups.get((device_id, role), ()))

    def primary(self, device_id: int, role: str = "") -> _Stream | None:
        group = self._group(device_id, role)
        return max(group, key=lambda s: s.election_id) if group else None

    def _announce(self, device_id: int, role: str, only: _Stream | None = None) -> None:
        """Tell every stream who is primary, or only `only` when the primary did not change."""
        primary = self.primary(device_id, role)
        if primary is None:
            return
        for s in self._group(device_id, role):
            if only is not None and s is not only:
                continue
            ok = s is primary
            s.queue.put_nowait(p4r.StreamMessageResponse(arbitration=p4r.MasterArbitrationUpdate(
                device_id=device_id, role=p4r.Role(name=role),
                election_id=_eid(primary.election_id),
                status=rpc_status.Status(
                    code=rpc_code.OK if ok else rpc_code.ALREADY_EXISTS,
                    message="you are the primary" if ok else "a primary is connected"))))

    def _device_state(self, device_id: int, down: str | None) -> None:
        """A device out of service ends its streams (UNAVAILABLE, saying why): its
        controllers notice at once and reconnect once it is back."""
        if down is None:
            log.info("device %d: serving again", device_id)
            return
        log.warning("device %d: out of service: %s", device_id, down)
        for s in self.streams:
            if s.device_id == device_id:
                s.queue.put_nowait(_Abort(grpc.StatusCode.UNAVAILABLE, _unavailable(device_id,
                                                                                    down)))

    def _arbitrate(self, stream: _Stream, arb: p4r.MasterArbitrationUpdate) -> None:
        device = self.devices.get(arb.device_id)
        if device is None:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"no device {arb.device_id} on this server")
        if device.down is not None:
            raise _Abort(grpc.StatusCode.UNAVAILABLE, _unavailable(arb.device_id, device.down))
        eid = _uint128(arb.election_id)
        if eid == 0:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "election id 0 is not valid")
        role = arb.role.name
        if stream.device_id is not None and stream.device_id != arb.device_id:
            raise _Abort(grpc.StatusCode.FAILED_PRECONDITION,
                         f"the device id of this stream is {stream.device_id}: it cannot "
                         f"change to {arb.device_id} on an open stream")
        if stream.device_id is not None and stream.role != role:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                         "the role cannot change on an open stream")
        for other in self._group(arb.device_id, role):
            if other is not stream and other.election_id == eid:
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                             f"{ELECTION_ID_EXISTS} (election id {eid}, another controller)")
        before = self.primary(arb.device_id, role)
        before_eid = before.election_id if before is not None else None
        if stream.device_id is None:
            self._groups.setdefault((arb.device_id, role), []).append(stream)
        stream.device_id, stream.role, stream.election_id = arb.device_id, role, eid
        after = self.primary(arb.device_id, role)
        changed = after is not before or (after is not None and after.election_id != before_eid)
        self._announce(arb.device_id, role, None if changed else stream)

    def _packet_in(self, device_id: int, msg: p4r.PacketIn) -> None:
        primary = self.primary(device_id)
        if primary is not None:
            primary.queue.put_nowait(p4r.StreamMessageResponse(packet=msg))

    async def StreamChannel(self, request_iterator: AsyncIterator[p4r.StreamMessageRequest],
                            context: grpc.aio.ServicerContext
                            ) -> AsyncIterator[p4r.StreamMessageResponse]:
        stream = _Stream(context.peer())
        self.streams.append(stream)
        reader = asyncio.create_task(self._read_stream(stream, request_iterator),
                                     name=f"p4rt-stream-{stream.peer}")
        try:
            while True:
                item = await stream.queue.get()
                if item is None:
                    return
                if isinstance(item, _Abort):
                    stream.ending = True
                    await context.abort(item.code, item.message)
                    return
                yield item
        finally:
            reader.cancel()
            was_primary = stream.device_id is not None and self.primary(
                stream.device_id, stream.role) is stream
            self.streams.remove(stream)
            if stream.device_id is not None:
                group = self._groups[stream.device_id, stream.role]
                group.remove(stream)
                if not group:
                    del self._groups[stream.device_id, stream.role]
            if stream.device_id is not None and was_primary:
                self._announce(stream.device_id, stream.role)

    async def _read_stream(self, stream: _Stream,
                           requests: AsyncIterator[p4r.StreamMessageRequest]) -> None:
        try:
            async for req in requests:
                kind = req.WhichOneof("update")
                if kind == "arbitration":
                    self._arbitrate(stream, req.arbitration)
                elif stream.device_id is None:
                    raise _Abort(grpc.StatusCode.FAILED_PRECONDITION,
                                 "the first message on a stream must be an arbitration")
                elif kind == "packet":
                    await self._packet_out(stream, req.packet)
            stream.queue.put_nowait(None)
        except _Abort as exc:
            stream.queue.put_nowait(exc)
        except Exception as exc:  # a broken stream must not take the server down
            if stream.ending:
                return
            log.exception("stream %s failed", stream.peer)
            stream.queue.put_nowait(_Abort(grpc.StatusCode.INTERNAL, str(exc)))

    async def _packet_out(self, stream: _Stream, pkt: p4r.PacketOut) -> None:
        assert stream.device_id is not None
        device = self.devices[stream.device_id]
        if self.primary(stream.device_id, stream.role) is not stream or device.pipeline is None:
            log.warning("device %d: packet-out from a backup or before a pipeline: dropped",
                        stream.device_id)
            return
        meta = device.pipeline.schema.packet_metadata["packet_out"]
        values: dict[str, int] = {}
        for m in pkt.metadata:
            f = meta.fields.get(m.metadata_id)
            if f is not None:
                values[f.name] = int.from_bytes(m.value, "big")
        await device.packet_out(pkt.payload, values.get("egress_port", 0),
                                values.get("mcast_grp", 0))

    # -- unary RPCs --------------------------------------------------------------------------
    def _device(self, device_id: int) -> Device:
        device = self.devices.get(device_id)
        if device is None:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"no device {device_id} on this server")
        if device.down is not None:
            raise _Abort(grpc.StatusCode.UNAVAILABLE, _unavailable(device_id, device.down))
        return device

    def _check_primary(self, device_id: int, role: str, election_id: int | p4r.Uint128
                       ) -> None:
        eid = election_id if isinstance(election_id, int) else _uint128(election_id)
        primary = self.primary(device_id, role)
        if primary is None or primary.election_id != eid:
            raise _Abort(grpc.StatusCode.PERMISSION_DENIED,
                         "only the primary controller may do this (election id "
                         f"{eid} is not the primary's)")

    async def Write(self, request: bytes | p4r.WriteRequest,
                    context: grpc.aio.ServicerContext) -> p4r.WriteResponse:
        """Write, from the request's bytes where the handler has no deserializer: the C
        decoder of the named device's pipeline reads them where it takes them, protobuf
        otherwise (its DecodeError is then the caller's answer, as without C)."""
        try:
            try:
                taken = (request if not isinstance(request, bytes) else
                         self._decode(request) or p4r.WriteRequest.FromString(request))
                return await self._write(taken, context)
            except MALFORMED as exc:  # bytes that are no WriteRequest
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                             f"the request is not a WriteRequest: {exc}") from exc
        except _Abort as exc:
            await context.abort(exc.code, exc.message)
            raise AssertionError("unreachable") from exc

    def _decode(self, data: bytes) -> DecodedWrite | None:
        """The request as the decoder of the device it names reads it; None where no
        pipeline has a decoder or the decoder does not take the request."""
        parser = self._last_parser
        if parser is None:
            return None
        try:
            batch = parser.decode(data)
            device = self.devices.get(batch.header.device_id)
            pl = device.pipeline if device is not None else None
            if pl is not None and pl.parser is not None and pl.parser is not parser:
                parser = self._last_parser = pl.parser  # the device's own P4Info
                batch = parser.decode(data)
            return DecodedWrite.of(data, batch, parser)
        except WriteDecodeError:
            return None

    async def _write(self, request: p4r.WriteRequest | DecodedWrite,
                     context: grpc.aio.ServicerContext) -> p4r.WriteResponse:
        if isinstance(request, DecodedWrite):
            h = request.batch.header
            device_id, role, election_id, atomicity, n = (
                h.device_id, h.role, h.election_id, h.atomicity, len(request.batch))
        else:
            device_id, role, atomicity, n = (request.device_id, request.role,
                                             request.atomicity, len(request.updates))
            election_id = _uint128(request.election_id)
        device = self._device(device_id)
        self._check_primary(device_id, role, election_id)
        if device.pipeline is None:
            raise _Abort(grpc.StatusCode.FAILED_PRECONDITION, NO_PIPELINE)
        if atomicity not in (p4r.WriteRequest.CONTINUE_ON_ERROR,
                             p4r.WriteRequest.ROLLBACK_ON_ERROR,
                             p4r.WriteRequest.DATAPLANE_ATOMIC):
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "unknown atomicity")
        rollback = atomicity != p4r.WriteRequest.CONTINUE_ON_ERROR
        try:
            plan = await device.write(request, rollback)
            statuses = plan.statuses
        except (BatchError, OvsError, OSError) as exc:
            if device.down is not None or device.lost.is_set():  # ovs-vswitchd went
                raise _Abort(grpc.StatusCode.UNAVAILABLE, _unavailable(
                    device_id, device.down or "its ovs-vswitchd is gone")) from exc
            log.error("device %d: %s", device_id, exc)
            statuses = [(rpc_code.INTERNAL, f"the switch refused the batch: {exc}")] * n
        if any(code != rpc_code.OK for code, _ in statuses):
            await self._abort_batch(context, statuses)
        return p4r.WriteResponse()

    @staticmethod
    async def _abort_batch(context: grpc.aio.ServicerContext,
                           statuses: list[tuple[int, str]]) -> None:
        failed = sum(1 for c, _ in statuses if c != rpc_code.OK)
        await context.abort(grpc.StatusCode.UNKNOWN,
                            f"{failed} of {len(statuses)} updates failed",
                            trailing_metadata=(("grpc-status-details-bin",
                                                batch_status(statuses)),))

    async def Read(self, request: p4r.ReadRequest, context: grpc.aio.ServicerContext
                   ) -> AsyncIterator[p4r.ReadResponse]:
        try:
            device = self._device(request.device_id)
            if device.pipeline is None:
                raise _Abort(grpc.StatusCode.FAILED_PRECONDITION, NO_PIPELINE)
            pl = device.pipeline
            out = p4r.ReadResponse()
            for ent in request.entities:
                kind = ent.WhichOneof("entity")
                if kind == "table_entry":
                    te = ent.table_entry
                    counters = await device.counters() if te.HasField("counter_data") else None
                    for stored in _selected(pl, te):
                        e = stored.entry
                        if counters is not None:
                            e = replace(e, counter=counters.get(stored.cookie, CounterData()))
                        out.entities.add().table_entry.CopyFrom(e.encode(pl.schema))
                elif kind == "direct_counter_entry":
                    # Each table's direct counter: its entries' flows' statistics.
                    counters = await device.counters()
                    for stored in _selected(pl, ent.direct_counter_entry.table_entry):
                        dce = out.entities.add().direct_counter_entry
                        _key_only(stored.entry.encode(pl.schema), dce.table_entry)
                        c = counters.get(stored.cookie, CounterData())
                        dce.data.packet_count, dce.data.byte_count = c.packets, c.bytes
                elif kind == "packet_replication_engine_entry":
                    gid = ent.packet_replication_engine_entry.multicast_group_entry\
                        .multicast_group_id
                    for g in pl.store.groups.values():
                        if gid in (0, g.group_id):
                            out.entities.add().packet_replication_engine_entry\
                                .multicast_group_entry.CopyFrom(g.encode())
                else:
                    raise _Abort(grpc.StatusCode.UNIMPLEMENTED, f"reading {kind} is not supported")
            yield out
        except Rejected as exc:
            await context.abort(_CODES[exc.code], exc.message)
        except _Abort as exc:
            await context.abort(exc.code, exc.message)
        except (OvsError, OSError) as exc:   # the switch went while it was asked
            await context.abort(grpc.StatusCode.UNAVAILABLE, _unavailable(
                request.device_id, f"reading its flows failed: {exc}"))

    async def SetForwardingPipelineConfig(
            self, request: p4r.SetForwardingPipelineConfigRequest,
            context: grpc.aio.ServicerContext) -> p4r.SetForwardingPipelineConfigResponse:
        try:
            device = self._device(request.device_id)
            self._check_primary(request.device_id, request.role, request.election_id)
            action = request.action
            if action == p4r.SetForwardingPipelineConfigRequest.UNSPECIFIED:
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "action is unspecified")
            if action == p4r.SetForwardingPipelineConfigRequest.COMMIT:
                if device.pipeline is None:
                    raise _Abort(grpc.StatusCode.FAILED_PRECONDITION, "nothing saved to commit")
                return p4r.SetForwardingPipelineConfigResponse()
            if not request.config.HasField("p4info"):
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "the config carries no P4Info")
            schema = P4Schema(request.config.p4info)
            try:
                check_program(schema, self.reference)
            except Rejected as exc:
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, exc.message) from exc
            if action == p4r.SetForwardingPipelineConfigRequest.VERIFY:
                return p4r.SetForwardingPipelineConfigResponse()
            config = p4r.ForwardingPipelineConfig()
            config.CopyFrom(request.config)
            parser = self.make_parser(schema)
            await device.set_pipeline(
                schema, config, parser,
                reconcile=action == p4r.SetForwardingPipelineConfigRequest.RECONCILE_AND_COMMIT)
            if parser is not None:
                self._last_parser = parser
            return p4r.SetForwardingPipelineConfigResponse()
        except _Abort as exc:
            await context.abort(exc.code, exc.message)
            raise AssertionError("unreachable") from exc
        except (OvsError, OSError) as exc:   # the switch went while it was set
            await context.abort(grpc.StatusCode.UNAVAILABLE, _unavailable(
                request.device_id, f"setting its flows failed: {exc}"))
            raise AssertionError("unreachable") from exc

    async def GetForwardingPipelineConfig(
            self, request: p4r.GetForwardingPipelineConfigRequest,
            context: grpc.aio.ServicerContext) -> p4r.GetForwardingPipelineConfigResponse:
        try:
            device = self._device(request.device_id)
            if device.pipeline is None:
                raise _Abort(grpc.StatusCode.FAILED_PRECONDITION, NO_PIPELINE)
            src = device.pipeline.config
            cfg = p4r.ForwardingPipelineConfig(cookie=src.cookie)
            rt = request.response_type
            R = p4r.GetForwardingPipelineConfigRequest
            if rt in (R.ALL, R.P4INFO_AND_COOKIE):
                cfg.p4info.CopyFrom(src.p4info)
            if rt in (R.ALL, R.DEVICE_CONFIG_AND_COOKIE):
                cfg.p4_device_config = src.p4_device_config
            return p4r.GetForwardingPipelineConfigResponse(config=cfg)
        except _Abort as exc:
            await context.abort(exc.code, exc.message)
            raise AssertionError("unreachable") from exc

    async def Capabilities(self, request: p4r.CapabilitiesRequest,
                           context: grpc.aio.ServicerContext) -> p4r.CapabilitiesResponse:
        return p4r.CapabilitiesResponse(p4runtime_api_version=API_VERSION)


def _unavailable(device_id: int, why: str) -> str:
    return f"device {device_id} is out of service: {why}"


def _no_parser(schema: P4Schema) -> None:
    return None


def _selected(pl: Pipeline, te: p4r.TableEntry) -> list[Stored]:
    """The entries a Read's TableEntry names: all (table id 0), a table's, or one."""
    table: str | None = None
    if te.table_id:
        found = pl.schema.tables.get(te.table_id)
        if found is None:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"unknown table id {te.table_id}")
        table = found.name
    key: TableEntry | None = None
    if te.match:
        key = parse_table_entry(te, pl.schema, p4r.Update.DELETE)
    return pl.store.read_entries(table, key)


def _key_only(full: p4r.TableEntry, out: p4r.TableEntry) -> None:
    """What names an entry (table, match, priority): a DirectCounterEntry's table_entry."""
    out.table_id = full.table_id
    out.match.extend(full.match)
    out.priority = full.priority


async def serve(devices: dict[int, Device], reference: P4Schema, address: str,
                fast_writes: bool = True, credentials: grpc.ServerCredentials | None = None
                ) -> tuple[grpc.aio.Server, int]:
    """Connect every device's bridge, start the gRPC server; returns it and its port.
    `fast_writes`: Write requests decoded in C where the module is built; `credentials`:
    TLS (ctrl/p4rt/tls.py), else plaintext. Each device takes up its journal first."""
    make_parser = WriteParser.make if fast_writes else _no_parser
    for dev in devices.values():
        await dev.open()
        await dev.restore(reference, make_parser)
    server = grpc.aio.server()
    servicer = P4RuntimeServicer(devices, reference, fast_writes)
    server.add_registered_method_handlers(SERVICE, method_handlers(servicer))
    port = (server.add_insecure_port(address) if credentials is None
            else server.add_secure_port(address, credentials))
    if port == 0:
        raise OvsError(f"cannot listen on {address}")
    await server.start()
    log.info("P4Runtime server on %s for devices %s", address,
             ", ".join(f"{d.device_id}={d.bridge}" for d in devices.values()))
    return server, port
