"""The control core after a restart or a failover: where the switches' entries say hosts
are (a restarted controller keeps every VM where it is, not where its topology file
declared it), hosts in doubt asked with ARP probes, and a standby become primary taking
the old primary's hosts. A part of ControlCore (ctrl/control/core.py), kept apart: pure,
the time comes with each call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from ctrl.control.diff import Diff
from ctrl.control.held import Held
from ctrl.control.hosts import Confirmed, Event, Host, HostTracker, Learned, Moved
from ctrl.control.hostwants import HostWants, Placed
from ctrl.control.migrations import Migration, Migrations
from ctrl.control.notices import HostLearned, HostMoved, Notice
from ctrl.control.plans import Plan, Send
from ctrl.control.readback import ReadBack, Row, Run, looked_at, read_back, read_rows
from ctrl.control.topology import PortRef
from ctrl.control.tunnelevents import Owner
from ctrl.control.verify import Verification
from ctrl.control.wanted import WantedState
from ctrl.fastpath.quiet import QuietFilter
from ctrl.p4rt.entity import Entity, MulticastGroupEntry
from ctrl.punt.frames import arp_probe

if TYPE_CHECKING:
    from ctrl.control.core import Metrics

log = logging.getLogger(__name__)

PROBE_SOURCE_MAC = 0x0200000000FE   # the controller's own, asking hosts where they are
PROBES_PER_PORT = 64                # hosts asked for out of a readied port nobody is at


class Adoption:
    """ControlCore's restarts and take-overs (a mixin: the attributes below are the
    core's, the methods that raise are the core's and its tunnels')."""

    tracker: HostTracker
    confirmed: Confirmed
    verify: Verification
    quiet: QuietFilter
    migrations: Migrations
    edges: set[PortRef]
    hostwants: HostWants
    state: WantedState
    version: int
    metrics: Metrics
    notices: list[Notice]

    def _events(self, events: Sequence[Event], now: float, cause: str = "sighting"
                ) -> list[Plan]:
        raise NotImplementedError

    def _stamped(self, plans: list[Plan]) -> list[Plan]:
        raise NotImplementedError

    def _placed(self, host: Host) -> Placed:
        raise NotImplementedError

    def _bases(self) -> list[tuple[Owner, dict[str, list[Entity]]]]:
        raise NotImplementedError

    def _tunnels_for(self, old: PortRef, new: PortRef, now: float) -> dict[str, Diff]:
        raise NotImplementedError

    def read_back(self, switch: str, held: Iterable[Entity]) -> ReadBack:
        return read_back(switch, held, self.edges)

    def read_rows(self, switch: str, rows: Iterable[Row | Run], groups: Iterable[Entity]
                  ) -> ReadBack:
        """`read_back` of a switch's table entries as rows (ctrl/control/held.py)."""
        return read_rows(switch, rows, [g for g in groups if isinstance(g, MulticastGroupEntry)],
                         self.edges)

    def read_held(self, switch: str, held: Held) -> ReadBack:
        """`read_rows` of a switch as read back, the entries it passes over not made."""
        return self.read_rows(switch, held.runs(looked_at(switch, self.edges)), held.groups)

    def adopt(self, found: ReadBack, now: float, plan: bool = True) -> list[Plan]:
        """Where the switches' entries say hosts are, for hosts not seen since the start
        (a restarted controller keeps every VM where it is, not where the topology file
        declared it); hosts in doubt (delivered both ways, or nobody known at a port
        readied for an arrival) are asked with ARP probes, whose answers place them.
        `plan` False: the wanted state changes, and no plan says how (every switch will
        sync against it: a controller's start, where 100,000 hosts would be as many
        plans for nothing); the probes are planned all the same."""
        self.quiet.forget_all()
        events: list[Event] = []
        placed: list[tuple[tuple[int, int], int, PortRef]] = []
        for key, at in sorted(found.at.items()):
            if key in self.confirmed:
                continue
            host = self.tracker.lookup(key)
            if host is None or host.location != at:
                events.append(self.tracker.declare(key[0], key[1], found.ips.get(key), at,
                                                   now))
            host = self.tracker.get(*key)   # its key and place, not the read-back's copies
            self.confirmed.add(key)
            ip = found.ips.get(key) or host.ip
            if ip is not None and key not in found.doubt:
                placed.append((host.key, ip, host.location))
        if plan:
            plans = self._events(events, now, cause="restart")
        else:
            plans = []
            self._quietly(events, now)
        # Each is asked where it was placed: one that moved while nobody listened is
        # searched for (Verification) when it does not answer there.
        probes: list[Send] = self.verify.ask(placed, now)
        for key, places in sorted(found.doubt.items()):
            ip = found.ips.get(key) or getattr(self.tracker.lookup(key), "ip", None)
            if ip is not None and key not in self.confirmed:
                probes += [Send(p.switch, p.port, arp_probe(ip, PROBE_SOURCE_MAC))
                           for p in sorted(places)]
        unconfirmed: dict[int, list[Host]] = {}
        if found.spare:
            for h in self.tracker.hosts():
                if h.ip is not None and h.key not in self.confirmed:
                    unconfirmed.setdefault(h.vnet, []).append(h)
        for port, vnet in sorted(found.spare.items()):
            asked = unconfirmed.get(vnet, [])[:PROBES_PER_PORT]
            probes += [Send(port.switch, port.port, arp_probe(h.ip, PROBE_SOURCE_MAC))
                       for h in asked if h.ip is not None]
        if probes:
            log.info("asking hosts where they are: %d placed by read-back, %d in doubt, "
                     "%d readied ports (%d ARP probes)", len(placed), len(found.doubt),
                     len(found.spare), len(probes))
            plans.append(Plan(sends=probes, start=now, why="probes"))
        return self._stamped(plans)

    def take_over(self, hosts: Mapping[tuple[int, int], tuple[PortRef, int | None]],
                  flights: Iterable[Migration], now: float) -> None:
        """HA: a standby become primary takes hosts where the old primary had them and its
        migrations in flight; the switches' syncs then write what differs."""
        self.quiet.forget_all()
        for m in flights:
            self.migrations.restore(m)
        for key, (at, ip) in sorted(hosts.items()):
            if at in self.edges:
                self.tracker.declare(key[0], key[1], ip, at, now)
                self.confirmed.add(key)
        self.hostwants.reset(self._placed(h) for h in self.tracker.unsorted())
        self.state.replace(self._bases())
        self.version += 1

    def _quietly(self, events: Sequence[Event], now: float) -> None:
        """The hosts of these events placed, as `_events` would, without plans."""
        hosts = []
        for ev in events:
            if isinstance(ev, Learned):
                self.metrics.learned += 1
                self.notices.append(HostLearned(ev.host.vnet, ev.host.mac, ev.host.ip,
                                                ev.host.location, now))
            elif isinstance(ev, Moved):
                self.metrics.moves += 1
                self.notices.append(HostMoved(ev.host.vnet, ev.host.mac, ev.old, ev.new, now,
                                              "restart"))
                self._tunnels_for(ev.old, ev.new, now)
            else:
                continue
            hosts.append(ev.host)
        self.hostwants.place_many(self._placed(h) for h in hosts)
        self.version += 1
