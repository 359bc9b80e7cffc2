"""The ptf idea, without its globals: send frames on a target's ports, expect frames.

`verify_packet` waits for one exact frame on one port; `verify_no_other_packets`
fails on anything else seen on any port. Frames are compared byte for byte.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterable, Mapping

from ctrl.platform.netns import recv_frame


def hexdump_diff(want: bytes, got: bytes) -> str:
    lines = [f"expected {len(want)} bytes, got {len(got)} bytes"]
    for off in range(0, max(len(want), len(got)), 16):
        w, g = want[off:off + 16], got[off:off + 16]
        mark = "  " if w == g else "!!"
        lines.append(f"{mark} {off:04x}  {w.hex(' '):<47}  |  {g.hex(' ')}")
    return "\n".join(lines)


class Dataplane:
    """Raw sockets on the test side of each switch port, keyed by P4 port number."""

    def __init__(self, sockets: Mapping[int, socket.socket]) -> None:
        self.sockets = dict(sockets)
        self.received: dict[int, list[bytes]] = {p: [] for p in self.sockets}

    def close(self) -> None:
        for s in self.sockets.values():
            s.close()

    def send(self, port: int, frame: bytes) -> None:
        self.sockets[port].send(frame)

    def _poll(self, timeout: float) -> None:
        by_fd = {s.fileno(): p for p, s in self.sockets.items()}
        ready, _, _ = select.select(list(by_fd), [], [], max(timeout, 0))
        for fd in ready:
            port = by_fd[fd]
            try:
                while True:
                    self.received[port].append(
                        recv_frame(self.sockets[port], socket.MSG_DONTWAIT))
            except BlockingIOError:
                pass

    def flush(self, settle: float = 0.05) -> None:
        self._poll(settle)
        for frames in self.received.values():
            frames.clear()

    def verify_packet(self, frame: bytes, port: int, timeout: float = 2.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            frames = self.received[port]
            if frame in frames:
                frames.remove(frame)
                return
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._poll(left)
        got = self.received[port]
        detail = hexdump_diff(frame, got[0]) if got else "nothing arrived"
        raise AssertionError(f"expected frame not seen on port {port}:\n{detail}")

    def verify_packets(self, frame: bytes, ports: Iterable[int], timeout: float = 2.0) -> None:
        for port in ports:
            self.verify_packet(frame, port, timeout)

    def verify_no_other_packets(self, timeout: float = 0.3) -> None:
        self._poll(timeout)
        extra = {p: f for p, f in self.received.items() if f}
        if extra:
            text = "; ".join(f"port {p}: {len(f)} frame(s), first {f[0][:34].hex()}"
                             for p, f in extra.items())
            raise AssertionError(f"unexpected frames: {text}")

    def verify_no_packet(self, port: int, timeout: float = 0.3) -> None:
        self._poll(timeout)
        if self.received[port]:
            raise AssertionError(f"unexpected frame on port {port}: "
                                 f"{self.received[port][0][:34].hex()}")
