"""One direction of the probe's UDP stream: a paced sender and a receiver, on threads.

Each datagram carries a stream id (so strays from another run are not counted), its
sequence number and its send time (monotonic clock, ns: the namespaces share it).
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from ctrl.lab.loops import reads, turns
from ctrl.lab.pacing import Pacer
from ctrl.lab.report import Arrival, UdpTrace

log = logging.getLogger(__name__)

MAGIC = b"VMpb"
HEADER = struct.Struct("!4sIQQ")  # magic, stream id, sequence number, send time (ns)
MAX_DATAGRAM = 2048


@dataclass(slots=True)
class UdpLog:
    """What one direction sent and got; its sender and its receiver each write their half."""

    stream: int
    sends: list[int] = field(default_factory=list)  # send time (ns) of each sequence number
    send_errors: int = 0
    arrivals: list[tuple[int, int, int]] = field(default_factory=list)  # seq, sent, arrived
    strays: int = 0  # datagrams of some other stream, not counted

    def trace(self, direction: str, rate: float, origin_ns: int) -> UdpTrace:
        def s(ns: int) -> float:
            return (ns - origin_ns) / 1e9
        return UdpTrace(direction=direction, rate=rate, sends=[s(t) for t in self.sends],
                        arrivals=[Arrival(q, s(t), s(a)) for q, t, a in self.arrivals],
                        send_errors=self.send_errors)


def send_datagrams(sock: socket.socket, destination: tuple[str, int], record: UdpLog,
                   pacer: Pacer, size: int, stop: threading.Event) -> None:
    """Datagrams of `size` bytes on `pacer`'s schedule until `stop` is set.

    A send the kernel refuses (no route while a link is down) still counts as
    sent: from the stream's point of view that datagram is lost.
    """
    buf = bytearray(max(size, HEADER.size))
    for _ in turns(pacer, lambda: len(record.sends), stop):
        now = time.monotonic_ns()
        HEADER.pack_into(buf, 0, MAGIC, record.stream, len(record.sends), now)
        try:
            sock.sendto(buf, destination)
        except OSError as exc:
            if record.send_errors == 0:
                log.info("udp to %s:%d: %s (counted as lost)", *destination, exc)
            record.send_errors += 1
        record.sends.append(now)


def receive_datagrams(sock: socket.socket, record: UdpLog, until: threading.Event) -> None:
    """Record every datagram of `record`'s stream until `until` is set (the socket
    must have a timeout, so that the loop sees `until` in time)."""
    buf = bytearray(MAX_DATAGRAM)
    for n in reads(sock, buf, until):
        arrived = time.monotonic_ns()
        if n < HEADER.size:
            record.strays += 1
            continue
        magic, stream, seq, sent = HEADER.unpack_from(buf)
        if magic != MAGIC or stream != record.stream:
            record.strays += 1
            continue
        record.arrivals.append((seq, sent, arrived))
