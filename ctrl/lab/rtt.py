"""Round-trip times from a host of the lab to another: ICMP echo, as ping does, from a raw
socket made in the host's namespace (the lab runs as root), on a thread of its own.

    with Pinger("lab-client-laptop", "10.1.0.10", interval=0.1) as p:
        ...
    p.samples          # [(sent at, time.monotonic(); rtt in ms or None: no answer), ...]

An echo that does not come back within `timeout` is lost (None); one sent less than
`timeout` before the stop is left out. Each pinger has an
identifier of its own, so several can run in one process.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import struct
import threading
import time
from types import TracebackType

from ctrl.platform.netns import in_netns

ECHO_REQUEST, ECHO_REPLY = 8, 0
_ids = itertools.count(0x4D00)   # an identifier per pinger of this process


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(ident: int, seq: int, payload: bytes) -> bytes:
    head = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident, seq)
    return struct.pack("!BBHHH", ECHO_REQUEST, 0, checksum(head + payload), ident,
                       seq) + payload


def parse_reply(packet: bytes) -> tuple[int, int] | None:
    """(identifier, sequence) of an ICMP echo reply inside an IPv4 packet, else None."""
    if len(packet) < 20:
        return None
    ihl = (packet[0] & 0x0F) * 4
    icmp = packet[ihl:ihl + 8]
    if len(icmp) < 8:
        return None
    kind, _, _, ident, seq = struct.unpack("!BBHHH", icmp)
    return (ident, seq) if kind == ECHO_REPLY else None


class Pinger:
    def __init__(self, ns: str | None, address: str, *, interval: float = 0.1,
                 timeout: float = 1.0) -> None:
        self.ns, self.address = ns, address
        self.interval, self.timeout = interval, timeout
        self.ident = next(_ids) & 0xFFFF
        self.samples: list[tuple[float, float | None]] = []
        self._sent: dict[int, float] = {}
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def __enter__(self) -> Pinger:
        with in_netns(self.ns):
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        self._sock.settimeout(0.1)
        for name, target in (("send", self._send), ("receive", self._receive)):
            t = threading.Thread(target=target, name=f"ping-{name}-{self.address}",
                                 daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(2.0)
        if self._sock is not None:
            self._sock.close()
        with self._lock:
            # Never answered: lost; those sent within the time-out before the stop have
            # no fate yet, and are left out.
            self._expire(time.monotonic())
            self._sent.clear()
            self.samples.sort()

    def _send(self) -> None:
        assert self._sock is not None
        start = time.monotonic()
        for seq in itertools.count():
            if self._stop.is_set():
                return
            now = time.monotonic()
            with self._lock:
                self._sent[seq & 0xFFFF] = now
                self._expire(now)
            with contextlib.suppress(OSError):   # unreachable for a moment: lost
                self._sock.sendto(echo_request(self.ident, seq & 0xFFFF, b"vm-mobility"),
                                  (self.address, 0))
            self._stop.wait(max(0.0, start + (seq + 1) * self.interval - time.monotonic()))

    def _expire(self, now: float) -> None:
        for seq in [s for s, t in self._sent.items() if now - t > self.timeout]:
            self.samples.append((self._sent.pop(seq), None))

    def _receive(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                packet = self._sock.recv(2048)
            except (TimeoutError, OSError):
                continue
            now = time.monotonic()
            got = parse_reply(packet)
            if got is None or got[0] != self.ident:
                continue
            with self._lock:
                sent = self._sent.pop(got[1], None)
                if sent is not None:
                    self.samples.append((sent, (now - sent) * 1e3))
