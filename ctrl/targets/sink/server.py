"""The sink target: one P4Runtime server for every switch of a topology, that keeps what
it is written and forwards nothing. Where the lab cannot reach (a k=16 fat-tree: 320
switches), the controller's own code runs against it: its sessions, syncs, writes and
read-backs are real gRPC to a real P4Runtime server; only the data plane is missing.

- Writes are taken as a switch takes them (ctrl/targets/sink/device.py), Read answers
  with the Entity bytes written (no protobuf object per entry), in responses of about
  1 MB;
- the fabric's links are wires: a frame the controller sends out of a linked port (its
  LLDP) comes back punted at the far end, so the controller's links stay up;
- a control socket (JSON lines) punts frames the caller gives, as if they came in at a
  port: `{"punt": [[switch, port, "hex frame"], ...]}` is answered with
  `{"punted": n, "at": T}`, T the server's time.monotonic() when the last was handed to
  gRPC (CLOCK_MONOTONIC: one clock for the processes of a machine); `{"held": true}`
  answers how many entries each switch holds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import grpc

from ctrl.control.topology import PortRef, Topology
from ctrl.errors import MobilityError
from ctrl.p4rt.proto import p4r
from ctrl.p4rt.schema import P4Schema
from ctrl.p4rt.wire import varint
from ctrl.targets.ovs.rawrpc import SERVICE, method_handlers, parse
from ctrl.targets.ovs.server import NO_PIPELINE, P4RuntimeServicer
from ctrl.targets.sink.device import SinkDevice

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 20   # bytes of entities per ReadResponse (gRPC's default limit is 4 MB)
PUNT_REASONS = {0x0806: 1, 0x8035: 2, 0x88CC: 3}   # ARP, RARP, LLDP: mobility.p4's punts


class SinkError(MobilityError):
    """A topology the sink cannot serve, or a control request it cannot do."""


class Sink:
    """The devices of a topology's switches, wired along its links."""

    def __init__(self, topology: Topology) -> None:
        addrs = {s.grpc_addr for s in topology.switches.values()}
        if len(addrs) != 1:
            raise SinkError(f"the sink serves one address; the topology's switches have "
                            f"{len(addrs)}: {', '.join(sorted(addrs))}")
        self.address = addrs.pop()
        self.devices: dict[int, SinkDevice] = {}
        self.by_name: dict[str, SinkDevice] = {}
        for s in topology.switches.values():
            if s.device_id in self.devices:
                raise SinkError(f"switches {self.devices[s.device_id].bridge} and {s.name} "
                                f"share device id {s.device_id}")
            dev = SinkDevice.named(s.device_id, s.name, self._wire)
            self.devices[s.device_id] = self.by_name[s.name] = dev
        ids = {s.name: s.device_id for s in topology.switches.values()}
        self.peer: dict[tuple[int, int], tuple[int, int]] = {}
        for link in topology.links:
            a = (ids[link.a.switch], link.a.port)
            b = (ids[link.b.switch], link.b.port)
            self.peer[a], self.peer[b] = b, a
        self.wired = 0      # frames carried over a link
        self.dropped = 0    # frames sent out of a port with no link (to hosts: none here)

    def _wire(self, device_id: int, port: int, payload: bytes) -> None:
        far = self.peer.get((device_id, port))
        reason = PUNT_REASONS.get(int.from_bytes(payload[12:14], "big")) if far else None
        if far is None or reason is None:
            self.dropped += 1
            return
        self.wired += 1
        self.devices[far[0]].punt(far[1], payload, reason)

    def punt(self, at: PortRef, frame: bytes) -> None:
        dev = self.by_name.get(at.switch)
        if dev is None:
            raise SinkError(f"no switch {at.switch!r}")
        reason = PUNT_REASONS.get(int.from_bytes(frame[12:14], "big"))
        if reason is None:
            raise SinkError(f"{frame[12:14].hex()}: not an EtherType mobility.p4 punts")
        dev.punt(at.port, frame, reason)

    def held(self) -> dict[str, int]:
        return {name: dev.held() for name, dev in self.by_name.items()}


class SinkServicer(P4RuntimeServicer):
    """The Open vSwitch target's servicer, with Read answered from the bytes written."""

    async def read_raw(self, request: p4r.ReadRequest, context: grpc.aio.ServicerContext
                       ) -> AsyncIterator[bytes]:
        device = self.devices.get(request.device_id)
        if not isinstance(device, SinkDevice):
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f"no device {request.device_id} on this server")
            return
        if device.pipeline is None:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, NO_PIPELINE)
            return
        chunk: list[bytes] = []
        size = 0
        for ent in request.entities:
            kind = ent.WhichOneof("entity")
            if kind == "table_entry":
                te = ent.table_entry
                if te.match:
                    await context.abort(grpc.StatusCode.UNIMPLEMENTED,
                                        "the sink reads whole tables only")
                    return
                found = device.entities(te.table_id or None)
            elif kind == "packet_replication_engine_entry":
                gid = ent.packet_replication_engine_entry.multicast_group_entry\
                    .multicast_group_id
                found = (iter(device.entities(0)) if not gid else
                         iter([b] if (b := device.tables.get(0, {}).get(gid)) else []))
            else:
                await context.abort(grpc.StatusCode.UNIMPLEMENTED,
                                    f"the sink does not read {kind}")
                return
            for raw in found:
                chunk.append(b"\x0a" + varint(len(raw)) + raw)
                size += len(raw) + 4
                if size >= READ_CHUNK:
                    yield b"".join(chunk)
                    chunk, size = [], 0
        if chunk or not size:
            yield b"".join(chunk)


def _handlers(servicer: SinkServicer) -> dict[str, grpc.RpcMethodHandler]:
    handlers = method_handlers(servicer)

    async def read(data: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        async for out in servicer.read_raw(await parse(p4r.ReadRequest, data, context),
                                           context):
            yield out

    handlers["Read"] = grpc.unary_stream_rpc_method_handler(
        read, request_deserializer=None, response_serializer=None)
    return handlers


async def serve(sink: Sink, reference: P4Schema, address: str | None = None
                ) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server(options=(("grpc.max_concurrent_streams", 4096),))
    servicer = SinkServicer(dict(sink.devices), reference)
    server.add_registered_method_handlers(SERVICE, _handlers(servicer))
    port = server.add_insecure_port(address or sink.address)
    if port == 0:
        raise SinkError(f"cannot listen on {address or sink.address}")
    await server.start()
    log.info("sink: P4Runtime for %d devices on %s", len(sink.devices), address or sink.address)
    return server, port


async def control(sink: Sink, path: Path) -> asyncio.AbstractServer:
    """The control socket (see the module's docstring)."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write((json.dumps(_answer(sink, line)) + "\n").encode())
                await writer.drain()
        finally:
            writer.close()

    path.unlink(missing_ok=True)
    return await asyncio.start_unix_server(handle, str(path), limit=1 << 26)


def _answer(sink: Sink, line: bytes) -> Mapping[str, object]:
    try:
        req = json.loads(line)
        if "punt" in req:
            for switch, port, frame in req["punt"]:
                sink.punt(PortRef(str(switch), int(port)), bytes.fromhex(frame))
            return {"punted": len(req["punt"]), "at": time.monotonic()}
        if "held" in req:
            return {"held": sink.held(), "wired": sink.wired, "dropped": sink.dropped}
        return {"error": f"unknown request: {sorted(req)}"}
    except (ValueError, TypeError, KeyError, SinkError) as exc:
        return {"error": str(exc)}
