"""The P4Runtime stream read in C (ctrl/p4rt/cstream.py, ext/fp_stream.c) against the
same stream read by grpcio: P4Client behaves the same on both, message for message. A
real gRPC server (this test's own) plays the switch: arbitration, packet-ins, an error,
bytes protobuf cannot read, a packet-in written in another field order, the end of the
stream with a status; a flood past the queue's size; a switch that is not there."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from ctrl.fastpath.stream import Joined
from ctrl.p4rt import cstream
from ctrl.p4rt.client import ArbitrationError, P4Client
from ctrl.p4rt.cstream import CStream, StreamOpenError
from ctrl.p4rt.proto import STREAM_METHOD, p4r, rpc_code, rpc_status
from ctrl.p4rt.schema import P4Schema

needs_c = pytest.mark.skipif(not cstream.available(),
                             reason="ctrl._grpcstream is not built (libgrpc-dev missing)")
READERS = [pytest.param(True, id="c", marks=needs_c), pytest.param(False, id="grpcio")]


def packet(payload: bytes, port: int) -> bytes:
    return p4r.StreamMessageResponse(packet=p4r.PacketIn(payload=payload, metadata=[
        p4r.PacketMetadata(metadata_id=1, value=port.to_bytes(2, "big"))])).SerializeToString()


def arbitration(code: int) -> bytes:
    return p4r.StreamMessageResponse(arbitration=p4r.MasterArbitrationUpdate(
        device_id=1, status=rpc_status.Status(code=code))).SerializeToString()


# A packet-in with an unknown field (99) first: not 0x12 first, so protobuf reads it.
REORDERED = (b"\x98\x06\x01" + packet(b"reordered", 7))
ERROR = p4r.StreamMessageResponse(error=p4r.StreamError(
    canonical_code=rpc_code.INVALID_ARGUMENT, message="bad packet-out")).SerializeToString()


class Switch:
    """Answers the first arbitration with `first`, sends `then`, and ends the stream with
    `end` (None: holds it open)."""

    def __init__(self, first: bytes, then: list[bytes],
                 end: grpc.StatusCode | None = None) -> None:
        self.first, self.then, self.end = first, then, end
        self.requests: list[bytes] = []

    async def stream(self, requests: AsyncIterator[bytes], context: Any
                     ) -> AsyncIterator[bytes]:
        first = True
        async for req in requests:
            self.requests.append(req)
            if not first:
                continue
            first = False
            yield self.first
            for m in self.then:
                yield m
            if self.end is not None:
                await context.abort(self.end, "switch agent going down")


async def serve(switch: Switch) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "p4.v1.P4Runtime", {"StreamChannel": grpc.stream_stream_rpc_method_handler(
            switch.stream, request_deserializer=None, response_serializer=None)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


async def until(check: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("c_stream", READERS)
def test_every_kind_of_message_is_handled_as_grpcio_handles_it(
        schema: P4Schema, c_stream: bool) -> None:
    frames = [packet(b"a", 1), ERROR, b"\xff\xff\xff", packet(b"b", 2), REORDERED,
              arbitration(rpc_code.ALREADY_EXISTS), packet(b"c", 3)]

    async def main() -> None:
        switch = Switch(arbitration(rpc_code.OK), frames, grpc.StatusCode.UNAVAILABLE)
        server, addr = await serve(switch)
        try:
            client = P4Client(addr, 1, (0, 1), c_stream=c_stream)
            assert client.c_stream is c_stream
            client.schema = schema
            got: list[bytes] = []

            def on_packets(joined: Joined, received: float) -> None:
                assert received > 0
                got.extend(joined.split())
            client.on_packets = on_packets
            broken: list[str] = []
            client.on_broken = broken.append
            await client.open()
            await client.closed.wait()
            assert broken == [client.close_reason]   # told at once, once
            assert client.malformed_packet_ins == 1   # the bytes protobuf cannot read
            assert [m for m in got] == [packet(b"a", 1), packet(b"b", 2), REORDERED,
                                        packet(b"c", 3)]
            # ALREADY_EXISTS after OK: another controller is primary now, as grpcio says
            assert not client.is_primary and client.primary_changed.is_set()
            assert client.close_reason.startswith("stream broken: UNAVAILABLE")
            assert "going down" in client.close_reason
            answers = [client._arbitration.get_nowait().status.code
                       for _ in range(client._arbitration.qsize())]
            assert answers == [rpc_code.ALREADY_EXISTS, rpc_code.UNAVAILABLE]
            await client.close()
            assert p4r.StreamMessageRequest.FromString(switch.requests[0]).arbitration \
                .device_id == 1
        finally:
            await server.stop(None)
    asyncio.run(main())


@pytest.mark.parametrize("c_stream", READERS)
def test_a_flood_past_the_queue_is_counted_and_what_fits_is_kept(
        schema: P4Schema, c_stream: bool) -> None:
    flood = [packet(i.to_bytes(4, "big"), 1) for i in range(500)]

    async def main() -> None:
        server, addr = await serve(Switch(arbitration(rpc_code.OK), flood))
        try:
            client = P4Client(addr, 1, (0, 1), packet_queue_size=50, c_stream=c_stream)
            client.schema = schema
            async with client:
                await until(lambda: client.dropped_packet_ins + client.queued_packet_ins()
                            == len(flood))
                assert client.queued_packet_ins() == 50
                assert await client.packet_batch() == flood[:50]   # the first ones, in order
                assert client.is_open and client.is_primary
        finally:
            await server.stop(None)
    asyncio.run(main())


@pytest.mark.parametrize("c_stream", READERS)
def test_no_switch_there_is_a_clear_arbitration_error(c_stream: bool) -> None:
    async def main() -> None:
        server, addr = await serve(Switch(b"", []))
        await server.stop(None)   # the port was free a moment ago: nobody answers there
        client = P4Client(addr, 1, (0, 1), c_stream=c_stream)
        with pytest.raises(ArbitrationError, match="cannot reach"):
            await client.open(timeout=10)
        assert not client.is_open
    asyncio.run(main())


@needs_c
def test_closed_mid_flood_and_opened_again(schema: P4Schema) -> None:
    flood = [packet(bytes(60), 1)] * 20_000

    async def main() -> None:
        server, addr = await serve(Switch(arbitration(rpc_code.OK), flood))
        try:
            for _ in range(3):
                client = P4Client(addr, 1, (0, 1), c_stream=True)
                client.schema = schema
                batches: list[int] = []
                client.on_packets = lambda joined, _t, b=batches: b.append(len(joined))
                await client.open()
                await until(lambda b=batches: sum(b) > 100)
                client.on_broken = lambda reason: pytest.fail(f"told {reason}")
                await client.close()   # the switch is still sending; ours: not told
                assert client.closed.is_set() and client._cstream is None
        finally:
            await server.stop(None)
    asyncio.run(main())


@needs_c
def test_the_c_stream_refuses_what_it_cannot_do() -> None:
    with pytest.raises(StreamOpenError, match="at least 1"):
        CStream.open("127.0.0.1:1", STREAM_METHOD, 0)
    stream = CStream.open("127.0.0.1:1", STREAM_METHOD, 10)   # opens; the call fails later
    stream.close()
    assert not stream.send(b"x") and not stream.is_open
    with pytest.raises(StreamOpenError, match="closed"):
        stream.take()


@needs_c
def test_messages_of_any_size_come_whole_and_in_order() -> None:
    sizes = [0, 1, 5, 70_000, 1_000_000, 3, 0, 200_000]
    sent = [bytes([0x12 if i % 2 else 0x0A]) * n for i, n in enumerate(sizes)]

    async def main() -> None:
        server, addr = await serve(Switch(arbitration(rpc_code.OK), sent))
        stream = CStream.open(addr, STREAM_METHOD, 2)   # pauses with 2 packet-ins waiting
        try:
            stream.send(p4r.StreamMessageRequest(arbitration=p4r.MasterArbitrationUpdate(
                device_id=1)).SerializeToString())
            packets: list[bytes] = []
            others: list[bytes] = []
            want_packets = [m for m in sent if m[:1] == b"\x12"]
            want_others = [arbitration(rpc_code.OK)] + [m for m in sent if m[:1] != b"\x12"]
            async with asyncio.timeout(20):
                while len(packets) < len(want_packets) or len(others) < len(want_others):
                    await asyncio.sleep(0.01)
                    taken = stream.take()
                    assert not taken.ended and len(taken.packet_lens) <= 2
                    packets += Joined(taken.packets, taken.packet_lens).split()
                    others += taken.others
            assert packets == want_packets and others == want_others
        finally:
            stream.close()
            await server.stop(None)
    asyncio.run(main())
