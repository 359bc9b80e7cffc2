"""Where every VM is: learned from punted ARP / RARP / DHCP, declared by the API, or announced.

Pure logic: sightings and clock readings in, events out; no I/O and no clock of
its own. A known MAC seen on another edge port is a move. A host that keeps
moving is damped (the move is held for a while, then accepted), never banned:
a real migration must always win. A MAC that answers from two places at once
is reported as a duplicate, and its location is not flipped back and forth.
Where a migration was announced, `expected` (the migrations' book) names the
destination, whose first sighting is accepted at once.

Sized for 100,000 hosts: a host is a slotted record whose move history exists only
once it has moved, and hosts are found by MAC or by (virtual network, IPv4) through
indexes (by MAC: one lookup per virtual network hosts are in, not a third table of
100,000), never by a scan. Each host's (virtual network, MAC) tuple is made once, with
it, and is the key of every index (here, the wanted state's, the probes'): 56 bytes a
copy, seven copies a host before. Its place is the one PortRef of that port every host
there shares (read-backs make one a host), and "seen since the start" is a flag of it.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ctrl.control.claims import Claims
from ctrl.control.topology import PortRef
from ctrl.errors import MobilityError

HostKey = tuple[int, int]  # (virtual network, MAC)


class HostError(MobilityError, LookupError):
    """An unknown host, or a request about hosts that cannot be met."""


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
    at: PortRef
    time: float
    source: Source


class Keyed:
    """A host's record that holds its key: its virtual network and MAC read from it."""

    __slots__ = ()
    key: HostKey

    @property
    def vnet(self) -> int:
        return self.key[0]

    @property
    def mac(self) -> int:
        return self.key[1]


@dataclass(slots=True)
class Host(Keyed):
    key: HostKey   # (virtual network, MAC): the one tuple every index holds
    ip: int | None
    location: PortRef
    since: float
    last_seen: float
    moves: deque[float] | None = None   # when it moved (the last 16), once it has moved
    held: tuple[PortRef, float] | None = None  # a damped move and when it is accepted
    confirmed: bool = field(default=False, compare=False)   # seen since the start


@dataclass(frozen=True, slots=True)
class Learned:
    host: Host


@dataclass(frozen=True, slots=True)
class Moved:
    host: Host
    old: PortRef
    new: PortRef


@dataclass(frozen=True, slots=True)
class Held:
    host: Host
    new: PortRef
    until: float


@dataclass(frozen=True, slots=True)
class Duplicate:
    host: Host
    other: PortRef


Event = Learned | Moved | Held | Duplicate


@dataclass(frozen=True, slots=True)
class Damping:
    """More than `max_moves` moves within `window` seconds: hold the next one for `hold`."""

    max_moves: int = 3
    window: float = 10.0
    hold: float = 2.0
    duplicate_window: float = 1.0  # seen back at the old place this soon: two hosts, one MAC


class Confirmed:
    """The hosts seen, or adopted, since the start: a set of keys, kept as a flag of each
    host (a set of 100,000 keys took 9 MB). Only known hosts can be added."""

    __slots__ = ("_hosts",)

    def __init__(self, hosts: dict[HostKey, Host]) -> None:
        self._hosts = hosts

    def __contains__(self, key: object) -> bool:
        host = self._hosts.get(key)   # type: ignore[call-overload]
        return host is not None and host.confirmed

    def add(self, key: HostKey) -> None:
        self._hosts[key].confirmed = True


class HostTracker:
    def __init__(self, is_edge: Callable[[PortRef], bool],
                 damping: Damping | None = None,
                 expected: Callable[[HostKey], PortRef | None] = lambda key: None) -> None:
        self._is_edge = is_edge
        self.damping = damping or Damping()
        self._expected = expected
        self._hosts: dict[HostKey, Host] = {}
        self._previous: dict[HostKey, tuple[PortRef, float]] = {}
        self._held: set[HostKey] = set()
        self._vnets: set[int] = set()   # those hosts are in
        self._by_ip: dict[int, Claims[int, HostKey]] = {}   # vnet -> ip -> keys, oldest first
        self._ports: dict[PortRef, PortRef] = {}   # each place hosts are at, once
        self.confirmed = Confirmed(self._hosts)

    def __len__(self) -> int:
        return len(self._hosts)

    def hosts(self) -> list[Host]:
        return sorted(self._hosts.values(), key=lambda h: h.key)

    def unsorted(self) -> Iterable[Host]:
        """Every host, in no particular order (no sort: for counting and sweeping)."""
        return self._hosts.values()

    def lookup(self, key: HostKey) -> Host | None:
        return self._hosts.get(key)

    def with_mac(self, mac: int) -> list[Host]:
        """The hosts with this MAC, one per virtual network it is known in."""
        return [h for v in sorted(self._vnets) if (h := self._hosts.get((v, mac))) is not None]

    def _add(self, host: Host) -> None:
        self._hosts[host.key] = host
        self._vnets.add(host.vnet)
        self._claim(host)

    def _claim(self, host: Host) -> None:
        if host.ip is not None:
            claims = self._by_ip.get(host.vnet)
            if claims is None:   # (no Claims made a host only to be thrown away)
                claims = self._by_ip[host.vnet] = Claims()
            claims.add(host.ip, host.key)

    def _set_ip(self, host: Host, ip: int | None) -> None:
        if ip is None or ip == host.ip:
            return
        if host.ip is not None:
            claims = self._by_ip[host.vnet]
            claims.remove(host.ip, host.key)
            if not claims:
                del self._by_ip[host.vnet]
        host.ip = ip
        self._claim(host)

    def _place(self, at: PortRef) -> PortRef:
        """The one PortRef of this port that hosts share."""
        return self._ports.setdefault(at, at)

    def held_until(self) -> float | None:
        """When the first held move is due, if any."""
        return min((h.held[1] for k in self._held
                    if (h := self._hosts[k]).held is not None), default=None)

    def get(self, vnet: int, mac: int) -> Host:
        host = self._hosts.get((vnet, mac))
        if host is None:
            raise HostError(f"no host with MAC {mac:012x} in virtual network {vnet}")
        return host

    def find_ip(self, vnet: int, ip: int) -> Host | None:
        """The host that has claimed this address longest (two may claim one)."""
        claims = self._by_ip.get(vnet)
        first = None if claims is None else claims.first(ip)
        return None if first is None else self._hosts[first]

    def observe(self, s: Sighting) -> list[Event]:
        """One sighting; frames from fabric ports say nothing about where a host is."""
        if not self._is_edge(s.at):
            return []
        host = self._hosts.get((s.vnet, s.mac))
        if host is None:
            host = Host((s.vnet, s.mac), s.ip, self._place(s.at), s.time, s.time)
            self._add(host)
            return [Learned(host)]
        self._set_ip(host, s.ip)
        if s.at == host.location:
            host.last_seen = s.time
            return []
        return self._move(host, s)

    def _move(self, host: Host, s: Sighting) -> list[Event]:
        d = self.damping
        prev = self._previous.get(host.key)
        expected = self._expected(host.key) == s.at
        if (prev is not None and prev[0] == s.at and s.time - prev[1] <= d.duplicate_window
                and s.source is not Source.RARP and not expected):
            # Back where it just left, at once: another host answers with this MAC.
            return [Duplicate(host, s.at)]
        if expected:
            return [self._accept(host, s.at, s.time)]
        recent = [t for t in host.moves or () if s.time - t <= d.window]
        if len(recent) >= d.max_moves:
            until = s.time + d.hold
            if host.held is None or host.held[0] != s.at:
                host.held = (s.at, until)
                self._held.add(host.key)
                return [Held(host, s.at, until)]
            return self.tick(s.time, host)
        return [self._accept(host, s.at, s.time)]

    def _accept(self, host: Host, new: PortRef, now: float) -> Moved:
        old = host.location
        self._previous[host.key] = (old, now)
        host.location, host.since, host.last_seen = self._place(new), now, now
        if host.moves is None:
            host.moves = deque(maxlen=16)
        host.moves.append(now)
        host.held = None
        self._held.discard(host.key)
        return Moved(host, old, new)

    def tick(self, now: float, only: Host | None = None) -> list[Event]:
        """Accept the held moves whose time has come."""
        out: list[Event] = []
        held = [only] if only else [self._hosts[k] for k in sorted(self._held)]
        for host in held:
            if host.held is not None and host.held[1] <= now:
                out.append(self._accept(host, host.held[0], now))
        return out

    def declare(self, vnet: int, mac: int, ip: int | None, at: PortRef, now: float) -> Event:
        """A host the operator names (API): learned, or moved without damping."""
        if not self._is_edge(at):
            raise HostError(f"{at} is not an edge port")
        host = self._hosts.get((vnet, mac))
        if host is None:
            host = Host((vnet, mac), ip, self._place(at), now, now)
            self._add(host)
            return Learned(host)
        self._set_ip(host, ip)
        return self._accept(host, at, now)
