"""Traffic per port, per link and per switch, from the switches' own counters.

Every switch counts, per ingress port, what came in: the direct counter of its
`ingress_port` table (one entry per fabric link port, access port in use and underlay
port). One Read of that table with its counters per switch per interval, all switches
at once, gives a reading; two readings give rates. A link's rate one way is what the
far end's port received. Nothing is counted per packet by the controller.

`rates` and `traffic_json` are pure. `TrafficSampler` reads only while someone watches
(the web view's open streams): it costs nothing otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ctrl.control.runner import Controller
from ctrl.control.topology import PortRef, Topology
from ctrl.errors import MobilityError
from ctrl.p4rt.entity import TableEntry
from ctrl.p4rt.values import to_int

log = logging.getLogger(__name__)

TABLE = "ingress_port"


@dataclass(frozen=True, slots=True)
class Reading:
    """One switch's ingress counters: port -> (packets, bytes), at a time (s)."""

    switch: str
    time: float
    ports: Mapping[int, tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Rate:
    pps: float
    bps: float     # bits per second

    def as_json(self) -> dict[str, float]:
        return {"pps": round(self.pps, 1), "bps": round(self.bps, 1)}


def _delta(before: int, after: int) -> int:
    """A counter that went back (its entry made anew: a VM came back to that port, a
    switch restarted) counts from zero again."""
    return after - before if after >= before else after


def rates(before: Reading, after: Reading) -> dict[PortRef, Rate]:
    """Per port of one switch, what came in per second between two readings; ports in
    only one of them (an entry made or deleted meanwhile) are left out."""
    dt = after.time - before.time
    if dt <= 0:
        return {}
    out = {}
    for port, (packets, octets) in after.ports.items():
        old = before.ports.get(port)
        if old is None:
            continue
        out[PortRef(after.switch, port)] = Rate(_delta(old[0], packets) / dt,
                                                _delta(old[1], octets) * 8 / dt)
    return out


def traffic_json(topo: Topology, per_port: Mapping[PortRef, Rate], interval: float,
                 now: float) -> dict[str, Any]:
    """Per link both ways (a_to_b is what b's port received), per switch what came in
    on all its ports, per port; rates unknown (a switch not read twice yet) are absent."""
    links = []
    for link in topo.links:
        ab, ba = per_port.get(link.b), per_port.get(link.a)
        if ab is None and ba is None:
            continue
        links.append({"a": str(link.a), "b": str(link.b),
                      "a_to_b": None if ab is None else ab.as_json(),
                      "b_to_a": None if ba is None else ba.as_json()})
    switches: dict[str, list[float]] = {}
    for ref, r in per_port.items():
        total = switches.setdefault(ref.switch, [0.0, 0.0])
        total[0] += r.pps
        total[1] += r.bps
    return {"time": now, "interval": interval, "links": links,
            "switches": {s: Rate(*t).as_json() for s, t in sorted(switches.items())},
            "ports": {str(ref): r.as_json() for ref, r in sorted(per_port.items())}}


def reading(switch: str, entries: list[Any], now: float) -> Reading:
    """A Read of the ingress_port table (with counters) as a reading."""
    ports = {to_int(e.match["ingress_port"]): (e.counter.packets, e.counter.bytes)
             for e in entries if isinstance(e, TableEntry) and e.counter is not None
             and "ingress_port" in e.match}
    return Reading(switch, now, ports)


class TrafficSampler:
    """Reads every connected switch's ingress counters each `interval` seconds while
    `watched()` says someone looks; `latest` is the last sample (traffic_json), `seq`
    counts samples and `fresh` is set at each (and replaced)."""

    def __init__(self, controller: Controller, interval: float,
                 watched: Callable[[], bool],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.c = controller
        self.interval = interval
        self.watched = watched
        self.clock = clock
        self.latest: dict[str, Any] | None = None
        self.seq = 0
        self.fresh = asyncio.Event()
        self.wake = asyncio.Event()       # set when the first watcher comes
        self._last: dict[str, Reading] = {}

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if not self.watched():
                self._last.clear()   # stale across a pause: start the rates again
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), 1.0)
                continue
            started = self.clock()
            await self.sample()
            spent = self.clock() - started
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.05, self.interval - spent))

    async def sample(self) -> None:
        """One batched round: a Read per connected switch, all at once."""
        names = [n for n, s in self.c.sessions.items() if s.connected and s.client is not None]
        results = await asyncio.gather(*(self._read(n) for n in names))
        per_port: dict[PortRef, Rate] = {}
        for r in results:
            if r is None:
                continue
            before = self._last.get(r.switch)
            self._last[r.switch] = r
            if before is not None:
                per_port.update(rates(before, r))
        for gone in set(self._last) - set(names):
            del self._last[gone]
        self.latest = traffic_json(self.c.topo, per_port, self.interval, self.clock())
        self.seq += 1
        done, self.fresh = self.fresh, asyncio.Event()
        done.set()

    async def _read(self, switch: str) -> Reading | None:
        client = self.c.sessions[switch].client
        if client is None:
            return None
        try:
            entries = await client.read_table(TABLE, counters=True)
        except MobilityError as exc:
            log.debug("%s: ingress counters not read: %s", switch, exc)
            return None
        return reading(switch, entries, self.clock())
