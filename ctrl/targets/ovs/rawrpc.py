"""The P4Runtime methods with their requests as bytes: bytes that are no request of the
method answer INVALID_ARGUMENT, as the specification wants of a malformed request,
where gRPC's own deserializer failing would answer UNKNOWN.

Write takes the bytes themselves (its C decoder reads them, ctrl/targets/ovs/server.py);
the unary ones and Read are parsed here, then handed to the servicer as the generated
handlers would; StreamChannel is parsed by gRPC.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from ctrl.p4rt.proto import p4r

SERVICE = "p4.v1.P4Runtime"
MALFORMED = (DecodeError, UnicodeDecodeError)  # pure-Python protobuf raised the second too

Unary = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
Streaming = Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]


async def parse(cls: Any, data: bytes, context: grpc.aio.ServicerContext) -> Any:
    """`cls` from `data`, or the call aborted with INVALID_ARGUMENT."""
    try:
        return cls.FromString(data)
    except MALFORMED as exc:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                            f"the request is not a {cls.DESCRIPTOR.name}: {exc}")


def _unary(method: Unary, cls: Any, reply: Any) -> grpc.RpcMethodHandler:
    async def handle(data: bytes, context: grpc.aio.ServicerContext) -> Any:
        return await method(await parse(cls, data, context), context)
    return grpc.unary_unary_rpc_method_handler(handle, request_deserializer=None,
                                               response_serializer=reply.SerializeToString)


def _streaming(method: Streaming, cls: Any, reply: Any) -> grpc.RpcMethodHandler:
    async def handle(data: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async for out in method(await parse(cls, data, context), context):
            yield out
    return grpc.unary_stream_rpc_method_handler(handle, request_deserializer=None,
                                                response_serializer=reply.SerializeToString)


def method_handlers(servicer: Any) -> dict[str, grpc.RpcMethodHandler]:
    """Every P4Runtime method's handler, by name: the requests of the unary ones and Read as
    bytes, StreamChannel's messages parsed by gRPC. All of them, registered together: the
    generated add_P4RuntimeServicer_to_server registers its handlers, which gRPC asks before
    any generic handler, so it is not used."""
    return {
        "Write": grpc.unary_unary_rpc_method_handler(
            servicer.Write, request_deserializer=None,
            response_serializer=p4r.WriteResponse.SerializeToString),
        "Read": _streaming(servicer.Read, p4r.ReadRequest, p4r.ReadResponse),
        "SetForwardingPipelineConfig": _unary(
            servicer.SetForwardingPipelineConfig, p4r.SetForwardingPipelineConfigRequest,
            p4r.SetForwardingPipelineConfigResponse),
        "GetForwardingPipelineConfig": _unary(
            servicer.GetForwardingPipelineConfig, p4r.GetForwardingPipelineConfigRequest,
            p4r.GetForwardingPipelineConfigResponse),
        "Capabilities": _unary(servicer.Capabilities, p4r.CapabilitiesRequest,
                               p4r.CapabilitiesResponse),
        "StreamChannel": grpc.stream_stream_rpc_method_handler(
            servicer.StreamChannel, request_deserializer=p4r.StreamMessageRequest.FromString,
            response_serializer=p4r.StreamMessageResponse.SerializeToString),
    }
