"""What P4Client does with a stream from a switch that misbehaves: a packet-in whose
metadata the P4Info does not allow is counted and dropped, and the stream lives on to
deliver the next one. A real gRPC server (this test's own) plays the switch, since no
target here sends such frames."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from ctrl.errors import MobilityError
from ctrl.p4rt.client import P4Client
from ctrl.p4rt.entity import PacketIn
from ctrl.p4rt.proto import p4r, p4r_grpc, rpc_code, rpc_status
from ctrl.p4rt.schema import P4Schema


def packet(payload: bytes, *meta: tuple[int, bytes]) -> p4r.StreamMessageResponse:
    return p4r.StreamMessageResponse(packet=p4r.PacketIn(
        payload=payload,
        metadata=[p4r.PacketMetadata(metadata_id=i, value=v) for i, v in meta]))


class Switch(p4r_grpc.P4RuntimeServicer):  # type: ignore[misc]
    """Answers arbitration as primary, then sends `frames`, then holds the stream."""

    def __init__(self, frames: list[p4r.StreamMessageResponse]) -> None:
        self.frames = frames

    async def StreamChannel(
            self, requests: AsyncIterator[p4r.StreamMessageRequest],
            context: grpc.aio.ServicerContext) -> AsyncIterator[p4r.StreamMessageResponse]:
        async for req in requests:
            if req.WhichOneof("update") == "arbitration":
                yield p4r.StreamMessageResponse(arbitration=p4r.MasterArbitrationUpdate(
                    device_id=req.arbitration.device_id,
                    election_id=req.arbitration.election_id,
                    status=rpc_status.Status(code=rpc_code.OK)))
                for f in self.frames:
                    yield f


BAD = [
    packet(b"unknown id", (1, b"\x00\x01"), (99, b"\x01")),
    packet(b"too wide", (1, b"\x02\x00")),       # ingress_port is 9 bits
    packet(b"empty value", (1, b"")),
]
GOOD = packet(b"good", (1, b"\x00\x05"))


def test_a_malformed_packet_in_is_counted_and_dropped_and_the_stream_lives(
        schema: P4Schema) -> None:
    async def main() -> None:
        server = grpc.aio.server()
        p4r_grpc.add_P4RuntimeServicer_to_server(Switch([*BAD, GOOD]), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            client = P4Client(f"127.0.0.1:{port}", 1, (0, 1))
            client.schema = schema   # as after get_pipeline: the switch runs mobility.p4
            async with client:
                pkt = await client.packet_in(timeout=10)
                assert pkt.payload == b"good" and pkt.metadata["ingress_port"] == 5
                assert client.malformed_packet_ins == len(BAD)
                assert client.is_open and client.is_primary
        finally:
            await server.stop(None)
    asyncio.run(main())


@pytest.mark.parametrize("frame", BAD, ids=["unknown-id", "too-wide", "empty"])
def test_each_kind_of_bad_metadata_is_refused_by_the_decoder(
        schema: P4Schema, frame: p4r.StreamMessageResponse) -> None:
    with pytest.raises(MobilityError):
        PacketIn.decode(frame.packet, schema)
