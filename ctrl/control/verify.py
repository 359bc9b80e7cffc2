"""After a restart, hosts are where the switches' entries say (read back), but a VM that
moved while no controller listened (its RARP punted to nobody) is not there any more. So
each host placed by read-back is asked, with an ARP probe where the entries have it; one
that does not answer there within `wait` seconds is asked at every edge port, once, and
its answer from wherever it is now moves it as any sighting does. Pure: sends out, the
core's sightings and clock in.

Paced: at most `rate` probes a second (a burst of a tenth of that), so that 100,000 hosts
read back are asked over 20 s at the default rate instead of in one burst that would
hold up everything else, and a search (one probe per edge port) waits its turn like any
other probe. Hosts not asked yet wait in order; a sighting takes a host off every list.
The hosts to ask are kept as references to their own key, address and place (in three
queues, not a tuple each: 100,000 wait after a restart).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from ctrl.control.plans import Send
from ctrl.control.topology import PortRef
from ctrl.punt.frames import arp_probe

Key = tuple[int, int]   # (vnet, mac)
WAIT_S = 0.25           # an ARP answer on this fabric takes a few ms; under load, more
PROBE_RATE = 5000.0     # probes a second, at most


@dataclass(frozen=True, slots=True)
class Asked:
    ip: int
    deadline: float


class Verification:
    def __init__(self, source_mac: int, wait: float = WAIT_S, rate: float = PROBE_RATE
                 ) -> None:
        self.source_mac = source_mac
        self.wait = wait
        self.rate = rate
        self.pending: dict[Key, Asked] = {}               # asked, the answer awaited
        self._ask = _Queue()                              # to ask where placed
        self._search: deque[tuple[Key, int]] = deque()    # to ask everywhere
        self._queued: set[Key] = set()                    # in _ask or _search, not seen
        self._tokens = rate / 10
        self._last = 0.0
        self.searched = 0    # hosts asked everywhere, since the start

    def ask(self, hosts: Iterable[tuple[Key, int, PortRef]], now: float) -> list[Send]:
        """Probes for (key, ip, where read back) of each host placed by read-back: those
        the pace allows now; the others when `due`."""
        for key, ip, at in hosts:
            if key not in self._queued:
                self._queued.add(key)
                self._ask.append((key, ip, at))
        return self._emit(now, ())

    def asking(self, key: Key) -> bool:
        """Whether the host is to be asked, or its answer awaited (a sighting of it
        changes that)."""
        return key in self.pending or key in self._queued

    def seen(self, key: Key) -> None:
        """A sighting of the host, wherever: it is placed by that, not by the search."""
        self.pending.pop(key, None)
        self._queued.discard(key)

    def next_deadline(self) -> float | None:
        """When an answer is late, or the pace allows the next batch of probes (a
        twentieth of a second's worth: not one tick a probe)."""
        times = [a.deadline for a in self.pending.values()]
        if self._ask or self._search:
            times.append(self._last + max(0.0, self.rate / 20 - self._tokens) / self.rate)
        return min(times, default=None)

    def due(self, now: float, edges: Iterable[PortRef]) -> list[Send]:
        """Probes the pace allows now: hosts still to ask, then, at every edge port, each
        host that did not answer in time."""
        late = sorted(k for k, a in self.pending.items() if a.deadline <= now)
        for key in late:
            self._search.append((key, self.pending.pop(key).ip))
            self._queued.add(key)
        return self._emit(now, edges)

    def _emit(self, now: float, edges: Iterable[PortRef]) -> list[Send]:
        self._tokens = min(self.rate / 10, self._tokens + (now - self._last) * self.rate)
        self._last = now
        sends: list[Send] = []
        while self._ask and self._tokens > 0:
            key, ip, at = self._ask.popleft()
            if key not in self._queued:
                continue   # seen meanwhile
            self._queued.discard(key)
            self.pending[key] = Asked(ip, now + self.wait)
            sends.append(Send(at.switch, at.port, arp_probe(ip, self.source_mac)))
            self._tokens -= 1
        ports = sorted(edges)
        while ports and self._search and self._tokens > 0:
            key, ip = self._search.popleft()
            if key not in self._queued:
                continue   # seen meanwhile
            self._queued.discard(key)
            sends += [Send(p.switch, p.port, arp_probe(ip, self.source_mac)) for p in ports]
            self._tokens -= len(ports)
            self.searched += 1
        return sends

    def waiting(self) -> int:
        """Hosts not asked yet, awaited, or to be searched for."""
        return len(self._queued) + len(self.pending)


class _Queue:
    """(key, address, place) in order, kept as three queues of references."""

    __slots__ = ("_ips", "_keys", "_places")

    def __init__(self) -> None:
        self._keys: deque[Key] = deque()
        self._ips: deque[int] = deque()
        self._places: deque[PortRef] = deque()

    def __len__(self) -> int:
        return len(self._keys)

    def append(self, item: tuple[Key, int, PortRef]) -> None:
        key, ip, at = item
        self._keys.append(key)
        self._ips.append(ip)
        self._places.append(at)

    def popleft(self) -> tuple[Key, int, PortRef]:
        return self._keys.popleft(), self._ips.popleft(), self._places.popleft()
