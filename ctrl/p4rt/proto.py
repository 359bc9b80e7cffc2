"""Short aliases for the generated P4Runtime protobuf modules (from the p4runtime wheel)."""

from __future__ import annotations

from google.rpc import code_pb2, status_pb2
from p4.config.v1 import p4info_pb2
from p4.v1 import p4runtime_pb2, p4runtime_pb2_grpc

p4r = p4runtime_pb2
p4i = p4info_pb2
p4r_grpc = p4runtime_pb2_grpc
rpc_code = code_pb2
rpc_status = status_pb2

# Write's full name, for a handler or a call of it that takes the request's bytes.
WRITE_METHOD = "/p4.v1.P4Runtime/Write"
READ_METHOD = "/p4.v1.P4Runtime/Read"
# StreamChannel's, for a call whose responses come as bytes (packet-ins parsed in batches).
STREAM_METHOD = "/p4.v1.P4Runtime/StreamChannel"

__all__ = ["READ_METHOD", "STREAM_METHOD", "WRITE_METHOD", "p4i", "p4r", "p4r_grpc", "rpc_code",
           "rpc_status"]
