"""The control core's GRE tunnels between sites' gateways: up on demand (an ARP answer for
a host across sites, a frame a gateway punted because its tunnel is down, a move to
another site), released when their counters stand still, and what each of those changes
in the wanted state. A part of ControlCore (ctrl/control/core.py), kept apart: pure, the
time comes with each call.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ctrl.control.diff import Diff, merge
from ctrl.control.hosts import HostError, HostTracker
from ctrl.control.hostwants import HostWants
from ctrl.control.notices import Notice, TunnelsChanged
from ctrl.control.planner import Planner
from ctrl.control.plans import Plan, Send, at_once
from ctrl.control.topology import PortRef, Topology
from ctrl.control.tunnels import Pair, TunnelUsage
from ctrl.control.wanted import WantedState
from ctrl.p4rt.entity import Entity
from ctrl.p4rt.values import to_int
from ctrl.punt.classify import NeedsTunnel
from ctrl.punt.frames import gre_encap

if TYPE_CHECKING:
    from ctrl.control.core import Metrics

log = logging.getLogger(__name__)

Owner = tuple[str, object]   # who wants entries in the wanted state: ("base", switch), ...


class TunnelEvents:
    """ControlCore's tunnels (a mixin: the attributes below are the core's)."""

    topo: Topology
    planner: Planner
    tracker: HostTracker
    tunnels: TunnelUsage | None
    metrics: Metrics
    notices: list[Notice]
    state: WantedState
    hostwants: HostWants

    def _changed(self, changes: dict[str, Diff]) -> dict[str, Diff]:
        raise NotImplementedError   # the core's: the wanted state's version moves on

    @property
    def tunnels_up(self) -> frozenset[Pair] | None:
        """The GRE tunnels up (None: every tunnel, always)."""
        return None if self.tunnels is None else frozenset(self.tunnels.up)

    def _bases(self) -> list[tuple[Owner, dict[str, list[Entity]]]]:
        up = self.tunnels_up
        return [(("base", sw), {sw: self.planner.base(sw, up)}) for sw in self.topo.switches]

    def _retunnel(self, before: frozenset[Pair] | None) -> dict[str, Diff]:
        """Tunnels came up or went: the gateways' own entries, and theirs for the hosts
        of the sites at the tunnels' far ends."""
        return self._changed(merge(self.state.replace(self._bases()),
                                   self.hostwants.tunnels_changed(before, self.tunnels_up)))

    def tunnel_gateways(self) -> list[str]:
        """The gateways whose tunnel counters say which tunnels are idle."""
        return [] if self.tunnels is None else sorted({a for a, _ in self.tunnels.up})

    def tunnel_counters(self, gateway: str, packets: Mapping[int, int], now: float) -> None:
        """The packet counters of a gateway's tunnel_encap entries, by tunnel id."""
        if self.tunnels is None:
            return
        for pair in [p for p in self.tunnels.up if p[0] == gateway]:
            count = packets.get(self.planner.tunnel_id(*pair))
            if count is not None:
                self.tunnels.observe(pair, count, now)

    def _release_idle(self, now: float) -> list[Plan]:
        """Tunnels whose counters stood still too long, released."""
        if self.tunnels is None:
            return []
        idle = self.tunnels.idle_since(now)
        if not idle:
            return []
        before = self.tunnels_up
        self.tunnels.release(idle)
        self.metrics.tunnels_released += len(idle)
        self.notices.append(TunnelsChanged(frozenset(self.tunnels.up), now))
        log.info("GRE tunnels idle for %.0f s released: %s", self.tunnels.idle,
                 ", ".join(f"{a}->{b}" for a, b in idle))
        return [Plan(at_once(self._retunnel(before)), start=now, why="tunnels idle")]

    def _bring_up(self, pair: Pair, now: float) -> list[dict[str, Diff]]:
        before = self.tunnels_up
        if self.tunnels is None or not self.tunnels.bring_up(pair, now):
            return []
        self.metrics.tunnels_brought_up += 1
        self.notices.append(TunnelsChanged(frozenset(self.tunnels.up), now))
        log.info("GRE tunnel %s <-> %s up", *pair)
        return at_once(self._retunnel(before))

    def _unbridged(self, switch: str, u: NeedsTunnel, now: float) -> list[Plan]:
        """A gateway punted a frame whose tunnel is down: bring it up, then send the frame
        through it from here, wrapped as the switch would have (nothing lost)."""
        try:
            host = self.tracker.get(u.vnet, u.dst_mac)
        except HostError:
            log.debug("%s: punted frame for unknown %012x dropped", switch, u.dst_mac)
            return []
        pair = self.planner.tunnel_between(switch, host.location.switch)
        if pair is None or pair[0] != switch:
            return []
        plan = Plan(self._bring_up(pair, now), start=now, why="frame for a tunnel")
        here, there = self.topo.switches[pair[0]].underlay, self.topo.switches[pair[1]].underlay
        if here is not None and there is not None:
            peer = self.planner.underlay_peer(*pair)
            frame = gre_encap(u.frame, key=u.vnet, src_ip=to_int(here.ip),
                              dst_ip=to_int(there.ip), src_mac=to_int(peer.src_mac),
                              dst_mac=to_int(peer.dst_mac))
            plan.sends.append(Send(switch, here.port, frame))
        return [plan]

    def _tunnels_for(self, old: PortRef, new: PortRef, now: float) -> dict[str, Diff]:
        """A move to another site: the tunnel between the two sites' gateways (the VM's
        peers at its old site reach it through it) and a twin to the new gateway of
        every tunnel to the old one (its peers elsewhere, re-homed), up with the move,
        or before the VM arrives when it is announced. What that changes."""
        pair = self.planner.tunnel_between(old.switch, new.switch)
        if pair is None or self.tunnels is None:
            return {}
        before = self.tunnels_up
        changed = self.tunnels.bring_up(pair, now)
        changed |= self.tunnels.rehome(*pair, now)
        if not changed:
            return {}
        self.metrics.tunnels_brought_up += 1
        self.notices.append(TunnelsChanged(frozenset(self.tunnels.up), now))
        log.info("GRE tunnels to %s up for a migration from %s", pair[1], pair[0])
        return self._retunnel(before)
