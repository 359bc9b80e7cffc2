"""The two loops of the probe's threads: sending on a pacer's schedule, reading a socket
until told to stop. Both wake often enough to see their stop event in time."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

from ctrl.lab.pacing import Pacer


def turns(pacer: Pacer, done: Callable[[], float], stop: threading.Event) -> Iterator[None]:
    """Once each time the unit after `done()` units is due, until `stop` is set."""
    while not stop.is_set():
        delay = pacer.delay(done(), time.monotonic())
        if delay > 0 and stop.wait(delay):
            return
        yield


def reads(sock: socket.socket, buf: bytearray, until: threading.Event) -> Iterator[int]:
    """The size of each read into `buf`, until `until` is set. The socket needs a
    timeout: a timeout only makes the loop look at `until` again; errors propagate."""
    while not until.is_set():
        try:
            n = sock.recv_into(buf)
        except TimeoutError:
            continue
        yield n
