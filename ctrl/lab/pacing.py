"""When the next datagram or byte is due, on a monotonic clock, without drift.

Pure: the caller reads the clock and sleeps. Unit n is due at start + n / rate, so
a late wake-up makes the next wait shorter instead of shifting every later unit.
"""

from __future__ import annotations


class Pacer:
    """Paces units (datagrams, bytes) at `rate` per second from `start` (seconds).

    With `max_lag`, a sender that has fallen further behind than that (a blocked
    TCP socket, say) forgoes the backlog instead of catching up in one burst:
    the rate stays bounded. Without it, every unit is sent, late ones back to back,
    so that n units always take n / rate seconds.
    """

    __slots__ = ("_start", "max_lag", "rate")

    def __init__(self, rate: float, start: float, max_lag: float | None = None) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, not {rate}")
        self.rate = rate
        self._start = start
        self.max_lag = max_lag

    def due(self, done: float) -> float:
        """When the unit after `done` units is due."""
        return self._start + done / self.rate

    def delay(self, done: float, now: float) -> float:
        """Seconds to wait before the unit after `done` units (0: send now)."""
        late = now - self.due(done)
        if self.max_lag is not None and late > self.max_lag:
            self._start += late - self.max_lag
            late = self.max_lag
        return max(0.0, -late)
