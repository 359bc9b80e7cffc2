"""Where every VM is: learned from punted ARP / RARP / DHCP, declared by the API, or announced.

Pure logic: sightings and clock readings in, events out; no I/O and no clock of
its own. A known MAC seen on another edge port is a move. A host that keeps
moving is damped (the move is held for a while, then accepted), never banned:
a real migration must always win. A MAC that answers from two places at once
is reported as a duplicate, and its location is not flipped back and forth.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ctrl.errors import MobilityError


class HostError(MobilityError, LookupError):
    """An unknown host, or a request about hosts that cannot be met."""


@dataclass(frozen=True, slots=True, order=True)
class Location:
    switch: str
    port: int

    def __str__(self) -> str:
        return f"{self.switch}:{self.port}"


class Source(enum.Enum):
    ARP = "arp"
    GARP = "garp"
    RARP = "rarp"
    DHCP = "dhcp"
    API = "api"


@dataclass(frozen=True, slots=True)
class Sighting:
    vnet: int
    mac: int
    ip: int | None
    at: Location
    time: float
    source: Source


@dataclass(slots=True)
class Host:
    vnet: int
    mac: int
    ip: int | None
    location: Location
    since: float
    last_seen: float
    moves: deque[float] = field(default_factory=lambda: deque(maxlen=16))
    held: tuple[Location, float] | None = None  # a damped move and when it is accepted
    expected: Location | None = None  # an announced migration's destination

    @property
    def key(self) -> tuple[int, int]:
        return self.vnet, self.mac


@dataclass(frozen=True, slots=True)
class Learned:
    host: Host


@dataclass(frozen=True, slots=True)
class Moved:
    host: Host
    old: Location
    new: Location


@dataclass(frozen=True, slots=True)
class Held:
    host: Host
    new: Location
    until: float


@dataclass(frozen=True, slots=True)
class Duplicate:
    host: Host
    other: Location


Event = Learned | Moved | Held | Duplicate


@dataclass(frozen=True, slots=True)
class Damping:
    """More than `max_moves` moves within `window` seconds: hold the next one for `hold`."""

    max_moves: int = 3
    window: float = 10.0
    hold: float = 2.0
    duplicate_window: float = 1.0  # seen back at the old place this soon: two hosts, one MAC


class HostTracker:
    def __init__(self, is_edge: Callable[[Location], bool],
                 damping: Damping | None = None) -> None:
        self._is_edge = is_edge
        self.damping = damping or Damping()
        self._hosts: dict[tuple[int, int], Host] = {}
        self._previous: dict[tuple[int, int], tuple[Location, float]] = {}

    def __len__(self) -> int:
        return len(self._hosts)

    def hosts(self) -> list[Host]:
        return sorted(self._hosts.values(), key=lambda h: h.key)

    def get(self, vnet: int, mac: int) -> Host:
        host = self._hosts.get((vnet, mac))
        if host is None:
            raise HostError(f"no host with MAC {mac:012x} in virtual network {vnet}")
        return host

    def find_ip(self, vnet: int, ip: int) -> Host | None:
        for host in self._hosts.values():
            if host.vnet == vnet and host.ip == ip:
                return host
        return None

    def observe(self, s: Sighting) -> list[Event]:
        """One sighting; frames from fabric ports say nothing about where a host is."""
        if not self._is_edge(s.at):
            return []
        host = self._hosts.get((s.vnet, s.mac))
        if host is None:
            host = Host(s.vnet, s.mac, s.ip, s.at, s.time, s.time)
            self._hosts[host.key] = host
            return [Learned(host)]
        if s.ip is not None:
            host.ip = s.ip
        if s.at == host.location:
            host.last_seen = s.time
            return []
        return self._move(host, s)

    def _move(self, host: Host, s: Sighting) -> list[Event]:
        d = self.damping
        prev = self._previous.get(host.key)
        if (prev is not None and prev[0] == s.at and s.time - prev[1] <= d.duplicate_window
                and s.source is not Source.RARP and host.expected != s.at):
            # Back where it just left, at once: another host answers with this MAC.
            return [Duplicate(host, s.at)]
        if host.expected == s.at:
            return [self._accept(host, s.at, s.time)]
        recent = [t for t in host.moves if s.time - t <= d.window]
        if len(recent) >= d.max_moves:
            until = s.time + d.hold
            if host.held is None or host.held[0] != s.at:
                host.held = (s.at, until)
                return [Held(host, s.at, until)]
            return self.tick(s.time, host)
        return [self._accept(host, s.at, s.time)]

    def _accept(self, host: Host, new: Location, now: float) -> Moved:
        old = host.location
        self._previous[host.key] = (old, now)
        host.location, host.since, host.last_seen = new, now, now
        host.moves.append(now)
        host.held = None
        host.expected = None
        return Moved(host, old, new)

    def tick(self, now: float, only: Host | None = None) -> list[Event]:
        """Accept the held moves whose time has come."""
        out: list[Event] = []
        for host in [only] if only else list(self._hosts.values()):
            if host.held is not None and host.held[1] <= now:
                out.append(self._accept(host, host.held[0], now))
        return out

    def declare(self, vnet: int, mac: int, ip: int | None, at: Location, now: float) -> Event:
        """A host the operator names (API): learned, or moved without damping."""
        if not self._is_edge(at):
            raise HostError(f"{at} is not an edge port")
        host = self._hosts.get((vnet, mac))
        if host is None:
            host = Host(vnet, mac, ip, at, now, now)
            self._hosts[host.key] = host
            return Learned(host)
        host.ip = ip if ip is not None else host.ip
        return self._accept(host, at, now)

    def expect(self, vnet: int, mac: int, to: Location) -> Host:
        """An announced migration: the host's next sighting at `to` is accepted at once."""
        if not self._is_edge(to):
            raise HostError(f"{to} is not an edge port")
        host = self.get(vnet, mac)
        host.expected = to
        return host
