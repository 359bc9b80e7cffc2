"""Which links of the topology are up, as LLDP says: pure, the time comes with each call.

A link is heard when an LLDP frame sent out of one of its ends comes in at the other
(the core sends them out of every fabric port, once an interval). It is down once
silent for three intervals while both its switches are in sync (only then could it be
heard); a link with an end we cannot reach keeps the state it had (a switch agent
restarting is no link failure); heard again, it is back up. The control core
(ctrl/control/core.py) asks `judged` once a tick and rebuilds its trees when the answer
changes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ctrl.control.topology import Link, PortRef, Topology
from ctrl.punt.classify import LinkProbe

log = logging.getLogger(__name__)

# LLDP frames sent a second at most (as many come back). Each costs the controller about
# 0.2 ms of CPU both ways (0.1 of it gRPC's Python stream write): at 1,000 a second, 0.4 of
# a core went to LLDP alone on a k=16 fabric, idle.
LLDP_FRAMES_PER_S = 500.0
LLDP_SLICES = 10


def lldp_interval_for(topology: Topology, wanted: float) -> float:
    """The LLDP interval: `wanted`, or longer where the fabric has so many ports that
    probing each that often would be more than LLDP_FRAMES_PER_S (a k=16 fat-tree has
    4,096 fabric ports: every 8.2 s, a cut noticed within 25 s instead of 1.5; ONOS
    probes every 3 s and waits 10, in Java). 0: no LLDP."""
    if wanted <= 0:
        return 0.0
    ports = 2 * len(topology.links)
    return max(wanted, ports / LLDP_FRAMES_PER_S)


class LinkWatch:
    def __init__(self, topology: Topology, interval: float) -> None:
        self.interval = interval   # LLDP's: a link silent for three is down
        self._link_at = {ref: link for link in topology.links for ref in (link.a, link.b)}
        self.seen: dict[Link, float] = {}   # when each link was last heard
        self.connected: set[str] = set()    # switches whose sessions are up (LLDP flows)

    def heard(self, switch: str, probe: LinkProbe, now: float) -> None:
        """An LLDP frame punted by `switch`: its link heard now (back up, if it was down,
        at the next judgement)."""
        here = PortRef(switch, probe.port)
        link = self._link_at.get(here)
        if link is None or self._link_at.get(PortRef(probe.info.chassis, probe.info.port)) \
                is not link:
            log.warning("LLDP from %s:%d on %s matches no link of the topology",
                        probe.info.chassis, probe.info.port, here)
            return
        self.seen[link] = now

    def switch_state(self, switch: str, connected: bool, down: Iterable[Link],
                     now: float) -> None:
        """A switch's session came up (in sync) or went; back, its links that are not
        `down` get a fresh interval to be heard in."""
        if connected and switch not in self.connected:
            down = set(down)
            for link in self.seen:
                if switch in (link.a.switch, link.b.switch) and link not in down:
                    self.seen[link] = now
        (self.connected.add if connected else self.connected.discard)(switch)

    def all_heard(self, down: Iterable[Link], now: float) -> None:
        """Every link not `down` up as of now: a fresh interval for each to be heard in (once
        every switch is in sync); a link down stays down until heard."""
        down = set(down)
        for link in self.seen:
            if link not in down:
                self.seen[link] = max(self.seen[link], now)

    def judged(self, down: Iterable[Link], now: float, judge: bool = True) -> set[Link]:
        """The links down now, given those `down` until now: silent for three intervals
        with both ends in sync; `judge` False: no link newly down, those heard again back
        up. Once a tick at most, however many LLDP frames came: a fabric of 4,096 links
        must not rebuild its trees once for each."""
        timeout = 3 * self.interval
        heard = {x for x in self.seen
                 if x.a.switch in self.connected and x.b.switch in self.connected}
        silent = {x for x in heard if now - self.seen[x] > timeout}
        out = {x for x in down if x not in heard or x in silent}
        if judge:
            out |= silent
        return out
