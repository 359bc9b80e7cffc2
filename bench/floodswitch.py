"""A P4Runtime switch that floods packet-ins, in a process of its own (`python -m
bench.floodswitch FLOOD_FILE`): for the packet-in benchmark's run over a real gRPC stream.

It answers what a controller's session asks before it is in sync (arbitration as
primary, GetForwardingPipelineConfig with the P4Info it was given, Read: nothing held,
Write: taken), then, on each line "go" on its standard input, sends the flood's messages
on the stream of device 1 (the one open then, or the next), as fast as gRPC takes them,
and says "sent" when done; other devices' streams stay open and idle. The
flood file holds serialized StreamMessageResponses, each behind its length (4 bytes, big
endian). It prints its port first. Ends when its standard input closes.

bench/floodswitch.cc is the same switch in C++ (`build_cc` compiles it where g++ and
libgrpc++-dev are installed): a Python gRPC server sends ~20,000 messages a second,
less than the controller takes, where the C++ one sends ~10 times more.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc

from ctrl.p4rt.proto import p4r, rpc_code, rpc_status
from ctrl.p4rt.schema import P4Schema

SERVICE = "p4.v1.P4Runtime"


def write_flood(path: Path, messages: list[bytes]) -> None:
    path.write_bytes(b"".join(struct.pack("!I", len(m)) + m for m in messages))


def build_cc(tmp: Path) -> Path | None:
    """bench/floodswitch.cc compiled into `tmp`; None where it cannot be (no g++, no
    libgrpc++-dev), with the reason on standard error."""
    gxx, pkg = shutil.which("g++"), shutil.which("pkg-config")
    if gxx is None or pkg is None:
        print("floodswitch.cc: no g++ or pkg-config", file=sys.stderr)
        return None
    flags = subprocess.run([pkg, "--cflags", "--libs", "grpc++"], capture_output=True,
                           text=True, check=False)
    if flags.returncode != 0:
        print(f"floodswitch.cc: no grpc++: {flags.stderr.strip()}", file=sys.stderr)
        return None
    out = tmp / "floodswitch"
    done = subprocess.run([gxx, "-O2", "-std=c++17", str(Path(__file__).with_suffix(".cc")),
                           "-o", str(out), *flags.stdout.split()],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"floodswitch.cc does not build: {done.stderr[-2000:]}", file=sys.stderr)
        return None
    return out


def pipeline_answer(schema: P4Schema) -> bytes:
    """GetForwardingPipelineConfigResponse with the switch's P4Info."""
    return p4r.GetForwardingPipelineConfigResponse(config=p4r.ForwardingPipelineConfig(
        p4info=schema.p4info)).SerializeToString()


def read_flood(path: Path) -> list[bytes]:
    data, out, pos = path.read_bytes(), [], 0
    while pos < len(data):
        (n,) = struct.unpack_from("!I", data, pos)
        out.append(data[pos + 4:pos + 4 + n])
        pos += 4 + n
    return out


class FloodSwitch:
    def __init__(self, schema: P4Schema, flood: list[bytes]) -> None:
        self.schema = schema
        self.flood = flood
        self.go = threading.Event()
        self.sent = threading.Event()
        self.stopping = threading.Event()
        self.latest = 0   # the device-1 stream opened last: the one flooded
        self.lock = threading.Lock()

    def stream(self, requests: Iterator[bytes], context: grpc.ServicerContext
               ) -> Iterator[bytes]:
        first = p4r.StreamMessageRequest.FromString(next(requests))
        device = first.arbitration.device_id
        # The latest before the client hears back (it says "go" then): an older stream,
        # cancelled but not yet seen so here, never takes the flood.
        with self.lock:
            self.latest += device == 1
            mine = self.latest
        yield p4r.StreamMessageResponse(arbitration=p4r.MasterArbitrationUpdate(
            device_id=device, election_id=first.arbitration.election_id,
            status=rpc_status.Status(code=rpc_code.OK))).SerializeToString()
        threading.Thread(target=self._drain, args=(requests,), daemon=True).start()
        while context.is_active() and not self.stopping.is_set():   # open, as a switch's
            if device != 1 or mine != self.latest:
                self.stopping.wait(0.2)
            elif self.go.wait(0.2):
                with self.lock:   # a newer stream may have come while this one waited
                    if mine != self.latest:
                        continue
                    self.go.clear()
                yield from self.flood
                self.sent.set()

    @staticmethod
    def _drain(requests: Iterator[bytes]) -> None:
        try:
            for _ in requests:   # packet-outs (LLDP) and arbitration again: taken, ignored
                pass
        except grpc.RpcError:    # the client closed its stream: nothing more to take
            return

    def get_pipeline(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        return pipeline_answer(self.schema)

    @staticmethod
    def read(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        return iter(())

    @staticmethod
    def write(request: bytes, context: grpc.ServicerContext) -> bytes:
        return p4r.WriteResponse().SerializeToString()


def main(argv: list[str]) -> int:
    schema = P4Schema.load(Path(argv[1]))
    switch = FloodSwitch(schema, read_flood(Path(argv[0])))
    raw = {"request_deserializer": None, "response_serializer": None}
    handler = grpc.method_handlers_generic_handler(SERVICE, {
        "StreamChannel": grpc.stream_stream_rpc_method_handler(switch.stream, **raw),
        "GetForwardingPipelineConfig": grpc.unary_unary_rpc_method_handler(
            switch.get_pipeline, **raw),
        "Read": grpc.unary_stream_rpc_method_handler(switch.read, **raw),
        "Write": grpc.unary_unary_rpc_method_handler(switch.write, **raw),
    })
    server = grpc.server(futures.ThreadPoolExecutor(8))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    for line in sys.stdin:
        if line.strip() == "go":
            switch.sent.clear()
            switch.go.set()
            switch.sent.wait()
            print("sent", flush=True)
    switch.stopping.set()
    server.stop(None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
