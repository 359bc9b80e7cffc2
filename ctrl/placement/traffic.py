"""Who sends how much to each VM, and where it enters the fabric: from the switches' own
counters, read in batches. Pure: readings and clock readings in, demand out.

Every switch holds a `bridging` entry (virtual network, VM MAC) with a direct counter,
and every frame toward the VM passes that entry once on each switch it crosses: a
client's frame is bridged where it enters, and a routed one too, after `routing_v4`
rewrote its destination to the VM's MAC (the other switches only bridge it). The
entries for one VM form a tree toward its attachment: each forwards to a next hop (a
fabric port), into a GRE tunnel (to the far site's gateway), or to the VM's own port.
So, over one interval, what entered the fabric at switch S toward the VM is

    in(S) = delta(S) - sum of delta(U) over the switches U whose entry sends to S

It is not clamped at 0 interval by interval: two switches are not read at the same
instant, so packets read at S but not yet at its upstream U one time are read at U the
next, and the two errors cancel in the smoothed demand (clamping each would keep the
positive half: a client that is not there, at the switch downstream of a busy one); the
smoothed demand is what is clamped at 0. It is counted in packets:
a frame's length changes on the way (a VLAN tag on fabric links counts on the Open
vSwitch target: 4 bytes more at every switch after the first; GRE across sites), its
number does not, and it is each packet that feels a path's links. A rate is that over the
interval; the demand a manager sees is its exponentially weighted mean over
`smoothing` seconds, so that a client passing through does not move a VM.

An interval is discarded for a VM (its demand kept as it was) when the tree changed
under it: an entry that appeared, went, or changed its action (a move rewrites them:
on bmv2 a MODIFY keeps the counter running, on the Open vSwitch target it starts a
new one at 0), a counter that went backwards, an entry that floods (the VM is in
flight: delivered at two places), or a move the controller saw inside the interval.
A reading that misses a switch (not connected, a Read that failed) is no interval at
all: the next full reading is compared with the last full one, over the longer time.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from ctrl.control.topology import Topology
from ctrl.p4rt.entity import Entity, TableEntry
from ctrl.p4rt.values import to_int

HostKey = tuple[int, int]   # (virtual network, MAC)
FORWARD, TUNNEL, FLOOD, CPU, DROP = "forward", "to_tunnel", "flood", "to_cpu", "drop"
QUIET = 0.05                # packets/s below which a smoothed demand is dropped


@dataclass(frozen=True, slots=True)
class Count:
    """One switch's bridging entry for one host, as read: its action, the action's one
    argument (port, tunnel id, group; 0 for none) and its direct counter."""

    action: str
    arg: int
    bytes: int
    packets: int


Reading = Mapping[str, Mapping[HostKey, Count]]   # switch -> host -> its entry there


def counts_of(entries: Iterable[Entity]) -> dict[HostKey, Count]:
    """A `bridging` Read with counters, as Counts (other entities and entries without a
    counter are left out)."""
    out: dict[HostKey, Count] = {}
    for e in entries:
        if not isinstance(e, TableEntry) or e.table != "bridging" or e.counter is None:
            continue
        action = e.action.rpartition(".")[2]
        arg = next(iter(e.params.values()), 0)
        key = (to_int(e.match["vnet_id"]), to_int(e.match["eth_dst"]))
        out[key] = Count(action, to_int(arg), e.counter.bytes, e.counter.packets)
    return out


@dataclass(frozen=True, slots=True)
class Wiring:
    """Where a bridging entry's action leads: the switch at the other end of a fabric
    port, the far gateway of a tunnel."""

    neighbour: Mapping[tuple[str, int], str]
    tunnel_far: Mapping[tuple[str, int], str]
    gateways: Mapping[str, str]             # switch -> its site's gateway (if any)

    @classmethod
    def of(cls, topo: Topology, tunnels: Mapping[tuple[str, str], int]) -> Wiring:
        """From the topology and the planner's tunnel ids ((gateway, gateway) -> id)."""
        neighbour: dict[tuple[str, int], str] = {}
        for link in topo.links:
            neighbour[link.a.switch, link.a.port] = link.b.switch
            neighbour[link.b.switch, link.b.port] = link.a.switch
        far = {(a, tid): b for (a, b), tid in tunnels.items()}
        gws: dict[str, str] = {}
        for a, _ in tunnels:
            for sw in topo.switches_of_site(topo.switches[a].site):
                gws[sw.name] = a
        return cls(neighbour, far, gws)

    def downstream(self, switch: str, c: Count, root: str | None) -> str | None:
        """The switch this entry sends the VM's frames to (None: out of the fabric, to
        the VM, or dropped). A gateway's to_cpu (its tunnel is down: the controller
        sends the frame through it) leads where the tunnel would, the root's gateway."""
        if c.action == FORWARD:
            return self.neighbour.get((switch, c.arg))
        if c.action == TUNNEL:
            return self.tunnel_far.get((switch, c.arg))
        if c.action == CPU and root is not None:
            gw = self.gateways.get(root)
            return gw if gw is not None and gw != switch else None
        return None

    def root(self, counts: Mapping[str, Count]) -> str | None:
        """The switch that delivers to the VM (a forward out of a port that is no fabric
        link's), if any."""
        for sw, c in counts.items():
            if c.action == FORWARD and (sw, c.arg) not in self.neighbour:
                return sw
        return None


def ingress(wiring: Wiring, before: Mapping[str, Count], after: Mapping[str, Count]
            ) -> dict[str, int] | str:
    """Packets that entered the fabric at each switch toward one VM between two readings of
    its entries (switch -> Count), not clamped (see above); or why the interval cannot be
    used."""
    if before.keys() != after.keys():
        gone, new = sorted(before.keys() - after.keys()), sorted(after.keys() - before.keys())
        return f"its entries changed (gone: {', '.join(gone) or '-'}; new: " \
               f"{', '.join(new) or '-'})"
    delta: dict[str, int] = {}
    for sw, c in after.items():
        b = before[sw]
        if c.action == FLOOD:
            return f"it is in flight (delivered at two places from {sw})"
        if (c.action, c.arg) != (b.action, b.arg):
            return f"its entry on {sw} changed ({b.action} {b.arg} -> {c.action} {c.arg})"
        if c.bytes < b.bytes or c.packets < b.packets:
            return f"its counter on {sw} went back (a new entry)"
        delta[sw] = c.packets - b.packets
    root = wiring.root(after)
    through: dict[str, int] = {}
    for sw, c in after.items():
        nxt = wiring.downstream(sw, c, root)
        if nxt is not None:
            through[nxt] = through.get(nxt, 0) + delta[sw]
    return {sw: d - through.get(sw, 0) for sw, d in delta.items()}


@dataclass(slots=True)
class Demand:
    """One VM's traffic: smoothed packets/s entering at each switch (`smoothed`, clamped at
    0; `mean`, as averaged), the last interval's rates as measured, and why the last
    interval was not used (if it was not)."""

    mean: dict[str, float] = field(default_factory=dict)
    smoothed: dict[str, float] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)
    updated: float | None = None        # the end of the last interval used
    discarded: str = ""                 # why the latest interval was not used
    intervals: int = 0
    skipped: int = 0

    @property
    def total(self) -> float:
        return sum(self.smoothed.values())


class TrafficMeter:
    """Readings of every switch's bridging entries in; each watched VM's demand out."""

    def __init__(self, wiring: Wiring, smoothing: float = 3.0) -> None:
        if not smoothing > 0:
            raise ValueError(f"smoothing {smoothing}: seconds > 0")
        self.wiring = wiring
        self.smoothing = smoothing
        self.switches: frozenset[str] | None = None   # what a full reading holds
        self._last: dict[HostKey, dict[str, Count]] = {}
        self._last_at: float | None = None
        self._moves: dict[HostKey, float] = {}
        self.demands: dict[HostKey, Demand] = {}
        self.readings = 0
        self.partial = 0                  # readings that missed a switch: not used

    def moved(self, key: HostKey, now: float) -> None:
        """The controller saw the host move (or its migration change) at `now`."""
        self._moves[key] = now

    def demand(self, key: HostKey) -> Demand:
        return self.demands.get(key) or Demand()

    def forget(self, keys: Collection[HostKey]) -> None:
        for k in keys:
            self.demands.pop(k, None)
            self._last.pop(k, None)

    def observe(self, reading: Reading, now: float, watched: Collection[HostKey]) -> bool:
        """One reading of every switch, taken at `now`, for the VMs `watched`; False when
        it missed a switch (nothing changed then)."""
        switches = frozenset(reading)
        if self.switches is not None and not self.switches <= switches:
            self.partial += 1
            return False
        self.switches = switches
        self.readings += 1
        per_vm: dict[HostKey, dict[str, Count]] = {k: {} for k in watched}
        for sw, counts in reading.items():
            for key in watched:
                c = counts.get(key)
                if c is not None:
                    per_vm[key][sw] = c
        since = self._last_at
        for key, after in per_vm.items():
            before = self._last.get(key)
            d = self.demands.setdefault(key, Demand())
            if before is None or since is None or now <= since:
                continue
            moved = self._moves.get(key)
            result: dict[str, int] | str
            if moved is not None and since <= moved <= now:
                result = "it moved during the interval"
            else:
                result = ingress(self.wiring, before, after)
            if isinstance(result, str):
                d.discarded = result
                d.skipped += 1
                continue
            self._smooth(d, result, now - since, now)
        self._last = per_vm
        self._last_at = now
        for key in [k for k, t in self._moves.items() if t < now]:
            del self._moves[key]
        for key in [k for k in self.demands if k not in per_vm]:
            del self.demands[key]
        return True

    def _smooth(self, d: Demand, got: Mapping[str, int], dt: float, now: float) -> None:
        alpha = 1.0 - math.exp(-dt / self.smoothing)
        d.last = {sw: n / dt for sw, n in got.items() if n}
        for sw in set(d.mean) | set(d.last):
            old = d.mean.get(sw, 0.0)
            new = old + alpha * (d.last.get(sw, 0.0) - old)
            if abs(new) < QUIET:
                d.mean.pop(sw, None)
            else:
                d.mean[sw] = new
        d.smoothed = {sw: rate for sw, rate in d.mean.items() if rate >= QUIET}
        d.updated = now
        d.discarded = ""
        d.intervals += 1
