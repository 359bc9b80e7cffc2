"""One direction of the probe's TCP connection: a writer at a bounded rate, a reader
that checks every byte against the pattern, on threads."""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass, field

from ctrl.lab import pattern
from ctrl.lab.loops import reads, turns
from ctrl.lab.pacing import Pacer
from ctrl.lab.report import Chunk, TcpTrace

log = logging.getLogger(__name__)

READ_SIZE = 32768


@dataclass(slots=True)
class TcpLog:
    """What one direction wrote and read; its writer and its reader each write their half."""

    bytes_sent: int = 0
    first_send: int | None = None  # ns
    last_send: int | None = None
    finished: bool = False  # the writer is done and has shut its side down
    chunks: list[tuple[int, int]] = field(default_factory=list)  # arrived (ns), size
    bytes_received: int = 0
    in_order: bool = True
    eof: bool = False
    error: str | None = None

    def fail(self, what: str, exc: OSError | str) -> None:
        reason = exc if isinstance(exc, str) else (exc.strerror or str(exc))
        if self.error is None:
            self.error = f"{what}: {reason}"
            log.info("tcp %s", self.error)

    def trace(self, direction: str, rate: float, origin_ns: int) -> TcpTrace:
        def s(ns: int | None) -> float | None:
            return None if ns is None else (ns - origin_ns) / 1e9
        return TcpTrace(direction=direction, rate=rate, bytes_sent=self.bytes_sent,
                        first_send=s(self.first_send), last_send=s(self.last_send),
                        chunks=[Chunk((a - origin_ns) / 1e9, n) for a, n in self.chunks],
                        in_order=self.in_order, eof=self.eof, error=self.error)


def send_stream(sock: socket.socket, record: TcpLog, pacer: Pacer, chunk: int,
                stop: threading.Event) -> None:
    """The pattern, `chunk` bytes at a time on `pacer`'s schedule (bytes), until `stop`;
    then the write side is shut, so the reader sees where the stream ends."""
    for _ in turns(pacer, lambda: record.bytes_sent, stop):
        try:
            n = sock.send(pattern.window(record.bytes_sent, chunk))
        except TimeoutError:
            continue  # the send buffer is full: the network is not taking data now
        except OSError as exc:
            record.fail("write", exc)
            return
        now = time.monotonic_ns()
        if record.first_send is None:
            record.first_send = now
        record.last_send = now
        record.bytes_sent += n
    record.finished = True
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError as exc:
        record.fail("shutdown", exc)


def receive_stream(sock: socket.socket, record: TcpLog, until: threading.Event) -> None:
    """Read until the end of the stream, an error, or `until` (the socket must have a
    timeout); every byte is checked against the pattern at its offset."""
    buf = bytearray(READ_SIZE)
    view = memoryview(buf)
    try:
        for n in reads(sock, buf, until):
            if n == 0:
                if record.finished:
                    record.eof = True
                else:
                    record.fail("read", "the peer closed the connection early")
                return
            record.chunks.append((time.monotonic_ns(), n))
            if record.in_order and not pattern.matches(record.bytes_received, view[:n]):
                log.warning("tcp stream differs from the pattern at byte %d",
                            record.bytes_received)
                record.in_order = False
            record.bytes_received += n
    except OSError as exc:
        record.fail("read", exc)
