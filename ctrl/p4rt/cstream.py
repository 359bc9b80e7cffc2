"""The P4Runtime stream read in C (ext/fp_stream.h, the module ctrl._grpcstream, on
Debian's libgrpc): a thread of the stream's own reads every message, and the owner takes
them in batches when an eventfd says some wait, not one Python read per message.

    stream = CStream.open("127.0.0.1:9559", STREAM_METHOD, packet_cap=10_000)  # then it waits
    loop.add_reader(stream.fd, ...)         # readable: messages wait, or the end
    taken = stream.take()                   # packet-ins as one buffer, the rest as bytes
    stream.send(request_bytes); stream.close()

grpcio reads a stream one message at a time at ~17 us of CPU a message (~60,000 a
second on one core, measured against a C++ sender); here a batch costs one wake-up.
`available()` says whether the module is built (it needs libgrpc-dev at install).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from array import array
from dataclasses import dataclass
from functools import cache
from typing import Any

from ctrl.errors import MobilityError

log = logging.getLogger(__name__)


class StreamOpenError(MobilityError):
    """The C stream could not start (the reason from C)."""


@cache
def _module() -> Any:
    try:
        return importlib.import_module("ctrl._grpcstream")
    except ImportError as exc:
        log.warning("the C stream reader (ctrl._grpcstream) is not built (%s): P4Runtime "
                    "streams are read with grpcio, one message at a time", exc)
        return None


def available() -> bool:
    return _module() is not None


@dataclass(frozen=True, slots=True)
class Taken:
    """What waited when taken: packet-ins end to end with their lengths, every other
    message whole, the messages lost so far (no memory to keep them), and the end if it
    came."""

    packets: bytes
    packet_lens: array[int]
    others: list[bytes]
    lost: int
    ended: bool
    code: int         # grpc status code (0: OK) when ended
    message: str
    first_at: float   # when the first packet-in of them came (time.monotonic()'s clock)


class CStream:
    __slots__ = ("_batch", "_ffi", "_handle", "_lib", "fd")

    def __init__(self, module: Any, handle: Any) -> None:
        self._ffi, self._lib, self._handle = module.ffi, module.lib, handle
        self._batch = self._ffi.new("fp_stream_batch *")
        self.fd: int = self._lib.fp_stream_fd(handle)

    @classmethod
    def open(cls, address: str, method: str, packet_cap: int) -> CStream:
        module = _module()
        if module is None:
            raise StreamOpenError("the C stream reader is not built")
        if packet_cap < 1:
            raise StreamOpenError(f"packet_cap {packet_cap}: at least 1")
        err = module.ffi.new("char[256]")
        handle = module.lib.fp_stream_open(address.encode(), method.encode(), packet_cap,
                                           err, 256)
        if handle == module.ffi.NULL:
            raise StreamOpenError(module.ffi.string(err).decode(errors="replace"))
        # Closed by the garbage collector too, should its owner never close it.
        return cls(module, module.ffi.gc(handle, module.lib.fp_stream_close))

    @property
    def is_open(self) -> bool:
        return self._handle is not None

    def send(self, data: bytes) -> bool:
        """Queued to go out after those before it; False once the stream has ended."""
        if self._handle is None:
            return False
        rc = self._lib.fp_stream_send(self._handle, data, len(data))
        if rc == -2:
            raise MemoryError("fp_stream_send: out of memory")
        return bool(rc == 0)

    def take(self) -> Taken:
        """Everything waiting (perhaps nothing), copied out of C."""
        if self._handle is None:
            raise StreamOpenError("the stream is closed")
        with contextlib.suppress(BlockingIOError):
            os.read(self.fd, 8)   # the wake-up, taken with what it announced
        b = self._batch
        self._lib.fp_stream_take(self._handle, b)
        ffi = self._ffi
        lens = array("I")
        others: list[bytes] = []
        packets = b""
        if b.n_packets:
            packets = ffi.buffer(b.packets, b.packets_len)[:]
            lens.frombytes(ffi.buffer(b.packet_lens, 4 * b.n_packets)[:])
        if b.n_others:
            data = ffi.buffer(b.others, b.others_len)[:]
            pos = 0
            for i in range(b.n_others):
                n = b.other_lens[i]
                others.append(data[pos:pos + n])
                pos += n
        message = ffi.string(b.status_message).decode(errors="replace") if b.ended else ""
        return Taken(packets, lens, others, int(b.lost), bool(b.ended),
                     int(b.status_code), message, b.first_ns / 1e9)

    def close(self) -> None:
        """Cancels the call and frees it; waits for the stream's thread (milliseconds)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            self._ffi.release(handle)   # fp_stream_close, now
