"""What the controller tells the world as it happens: hosts learned and moved, migrations
changing phase, tunnels and links changing, moves converged (or not), switches changing
state. Plain values, each with `kind` and `as_json()`, for the web view's live feed and
the HA journal.

The core appends notices as its state changes (pure); the runner takes them after each
event and hands them to every subscriber of its `Feed`. A subscriber too slow to keep
up loses the oldest notices, never blocks the controller, and is told how many it lost.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ctrl.control.migrations import Migration
from ctrl.control.stages import MoveStages
from ctrl.control.topology import Link, PortRef
from ctrl.p4rt.values import int_to_ipv4, int_to_mac


def _host(vnet: int, mac: int) -> dict[str, Any]:
    return {"vnet": vnet, "mac": int_to_mac(mac)}


@dataclass(frozen=True, slots=True)
class HostLearned:
    vnet: int
    mac: int
    ip: int | None
    at: PortRef
    time: float
    kind: str = "host-learned"

    def as_json(self) -> dict[str, Any]:
        return {**_host(self.vnet, self.mac), "at": str(self.at), "time": self.time,
                "ip": None if self.ip is None else int_to_ipv4(self.ip)}


@dataclass(frozen=True, slots=True)
class HostMoved:
    vnet: int
    mac: int
    old: PortRef
    new: PortRef
    time: float
    cause: str          # "sighting", "switch-over", "cancel", "restart"
    kind: str = "host-moved"

    def as_json(self) -> dict[str, Any]:
        return {**_host(self.vnet, self.mac), "from": str(self.old), "to": str(self.new),
                "time": self.time, "cause": self.cause}


@dataclass(frozen=True, slots=True)
class MigrationChanged:
    migration: Migration
    kind: str = "migration"

    def as_json(self) -> dict[str, Any]:
        m = self.migration
        return {**_host(m.vnet, m.mac), "from": str(m.src), "to": str(m.dst),
                "phase": m.phase.value, "announced": m.announced, "time": m.changed,
                "note": m.note or None, "cause": m.cause or None}


@dataclass(frozen=True, slots=True)
class TunnelsChanged:
    up: frozenset[tuple[str, str]]
    time: float
    kind: str = "tunnels"

    def as_json(self) -> dict[str, Any]:
        return {"up": [list(p) for p in sorted(self.up)], "time": self.time}


@dataclass(frozen=True, slots=True)
class LinksChanged:
    down: frozenset[Link]
    time: float
    kind: str = "links"

    def as_json(self) -> dict[str, Any]:
        return {"down": sorted([str(x.a), str(x.b)] for x in self.down), "time": self.time}


@dataclass(frozen=True, slots=True)
class Converged:
    """A move's writes done: how long from the event, and the switches that did not take
    theirs (then it is not converged)."""

    vnet: int
    mac: int
    new: PortRef
    seconds: float
    writes: int
    failed: tuple[str, ...]
    time: float
    kind: str = "converged"
    stages: MoveStages | None = None   # where its time went (ctrl/control/stages.py)

    def as_json(self) -> dict[str, Any]:
        out = {**_host(self.vnet, self.mac), "at": str(self.new), "ms": self.seconds * 1e3,
               "writes": self.writes, "converged": not self.failed,
               "failed": list(self.failed), "time": self.time}
        if self.stages is not None:
            out["stages"] = self.stages.as_json()
        return out


@dataclass(frozen=True, slots=True)
class SwitchChanged:
    switch: str
    connected: bool
    primary: bool
    in_sync: bool
    time: float
    kind: str = "switch"

    def as_json(self) -> dict[str, Any]:
        return {"switch": self.switch, "connected": self.connected, "primary": self.primary,
                "in_sync": self.in_sync, "time": self.time}


@dataclass(frozen=True, slots=True)
class PlacementNotice:
    """The placement engine (ctrl/placement): a VM's decision changed (`event`
    "decision"), or a migration it started ended ("migrated", "failed")."""

    vm: str
    event: str
    verdict: str          # migrate, advise, moving, stay, wait, blocked, error
    at: str | None        # hypervisors
    to: str | None
    why: str
    time: float
    cause: str = "placement"
    kind: str = "placement"

    def as_json(self) -> dict[str, Any]:
        return {"vm": self.vm, "event": self.event, "decision": self.verdict, "at": self.at,
                "to": self.to, "why": self.why, "time": self.time, "cause": self.cause}


Notice = (HostLearned | HostMoved | MigrationChanged | TunnelsChanged | LinksChanged
          | Converged | SwitchChanged | PlacementNotice)


@dataclass(slots=True)
class Subscription:
    queue: deque[Notice]
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    lost: int = 0

    async def next(self) -> tuple[list[Notice], int]:
        """Every notice waiting (at least one), and how many were lost since the last."""
        while not self.queue:
            self.wake.clear()
            await self.wake.wait()
        out, lost = list(self.queue), self.lost
        self.queue.clear()
        self.lost = 0
        return out, lost


class Feed:
    """Fan-out of notices to subscribers, each with a bounded backlog."""

    def __init__(self, backlog: int = 10_000) -> None:
        self.backlog = backlog
        self._subs: list[Subscription] = []
        self.published = 0

    def subscribe(self) -> Subscription:
        sub = Subscription(deque())
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def publish(self, notices: list[Notice]) -> None:
        if not notices:
            return
        self.published += len(notices)
        for sub in self._subs:
            for n in notices:
                if len(sub.queue) >= self.backlog:
                    sub.queue.popleft()
                    sub.lost += 1
                sub.queue.append(n)
            sub.wake.set()
