"""Where the web view draws each switch and hypervisor of a topology. Pure.

Sites stand side by side. Inside a site, switches are drawn in rows: the switches
with hypervisors at the bottom (edge), above them each switch at its distance in links
from the nearest edge switch (a fat-tree's aggregation, then core). Hypervisors form a
row under the edge, one slot each; an edge switch stands over the middle of its own
hypervisors, a switch above over the middle of its neighbours below, and a row's
switches are then pushed apart where they would overlap. VMs and clients are stacked
by the page under the hypervisor they are at (they move), from `hosts_y` down.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from ctrl.control.topology import Topology

SWITCH_DX = 110.0    # least distance between two switches of a row
HV_DX = 110.0        # one hypervisor's slot
ROW_DY = 90.0        # between rows of switches
HV_DY = 80.0         # from the edge row to the hypervisors
HOSTS_DY = 42.0      # from the hypervisors to the first VM under them
PAD = 40.0           # inside a site's box
SITE_GAP = 70.0      # between two sites' boxes
TOP = 70.0           # above the sites: the WAN between them


@dataclass(frozen=True, slots=True)
class Box:
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True, slots=True)
class Layout:
    sites: dict[str, Box]
    switches: dict[str, tuple[float, float]]
    hypervisors: dict[str, tuple[float, float]]
    hosts_y: float       # where the first VM under a hypervisor is drawn
    width: float
    wan: tuple[float, float]   # the WAN (underlay) between sites' gateways


def natural(name: str) -> tuple[object, ...]:
    """`p2e10` after `p2e9`: digits compare as numbers."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def _levels(members: list[str], neighbours: dict[str, set[str]], edge: set[str]
            ) -> dict[str, int]:
    """Distance in links from the nearest edge switch (0 for the edge itself); a switch
    no edge reaches sits one row above the highest."""
    level = dict.fromkeys(sorted(edge & set(members)), 0)
    todo = deque(level)
    while todo:
        here = todo.popleft()
        for n in sorted(neighbours[here]):
            if n not in level:
                level[n] = level[here] + 1
                todo.append(n)
    top = max(level.values(), default=-1) + 1
    return {s: level.get(s, top) for s in members}


def _spread(order: list[str], want: dict[str, float], gap: float) -> dict[str, float]:
    """The row's switches at their wanted x, in `order`, pushed apart to `gap` and the
    pushed block centred back on what was wanted."""
    xs: dict[str, float] = {}
    last: float | None = None
    for s in order:
        x = want[s] if last is None else max(want[s], last + gap)
        xs[s] = last = x
    if order:
        shift = (sum(want[s] for s in order) - sum(xs.values())) / len(order)
        xs = {s: x + shift for s, x in xs.items()}
    return xs


def _mean(values: Iterable[float]) -> float | None:
    vs = list(values)
    return sum(vs) / len(vs) if vs else None


def _site(topo: Topology, members: list[str], neighbours: dict[str, set[str]]
          ) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]], int]:
    """One site at its own origin: (switches, hypervisors, rows of switches)."""
    hvs_of: dict[str, list[str]] = {s: [] for s in members}
    for name, hv in sorted(topo.hypervisors.items(), key=lambda kv: natural(kv[0])):
        if hv.attach.switch in hvs_of:
            hvs_of[hv.attach.switch].append(name)
    edge = {s for s, hvs in hvs_of.items() if hvs}
    level = _levels(members, neighbours, edge)
    rows = max(level.values(), default=0) + 1
    bottom = sorted((s for s in members if level[s] == 0), key=natural)
    hv_x: dict[str, float] = {}
    for s in bottom:
        for name in hvs_of[s]:
            hv_x[name] = len(hv_x) * HV_DX
    placed: dict[str, float] = {}
    extra = len(hv_x) * HV_DX   # switches without hypervisors on the bottom row
    for s in bottom:
        mid = _mean(hv_x[h] for h in hvs_of[s])
        if mid is None:
            mid, extra = extra, extra + SWITCH_DX
        placed[s] = mid
    placed = _spread(bottom, placed, SWITCH_DX)
    for row in range(1, rows):
        members_of_row = [s for s in members if level[s] == row]
        want = {}
        for s in members_of_row:
            below = _mean(placed[n] for n in neighbours[s] if n in placed)
            want[s] = below if below is not None else max(placed.values(), default=0) + SWITCH_DX
        order = sorted(members_of_row, key=lambda s: (want[s], natural(s)))
        placed.update(_spread(order, want, SWITCH_DX))
    switches = {s: (placed[s], (rows - 1 - level[s]) * ROW_DY) for s in members}
    edge_y = (rows - 1) * ROW_DY
    hypervisors = {h: (x, edge_y + HV_DY) for h, x in hv_x.items()}
    return switches, hypervisors, rows


def layout(topo: Topology) -> Layout:
    neighbours: dict[str, set[str]] = {s: set() for s in topo.switches}
    for link in topo.links:
        neighbours[link.a.switch].add(link.b.switch)
        neighbours[link.b.switch].add(link.a.switch)
    sites = list(topo.sites) or sorted({s.site for s in topo.switches.values()})
    parts = []
    for site in sites:
        members = sorted((s.name for s in topo.switches_of_site(site)), key=natural)
        parts.append((site, *_site(topo, members, neighbours)))
    rows = max((p[3] for p in parts), default=1)
    hv_y = (rows - 1) * ROW_DY + HV_DY
    out_sites: dict[str, Box] = {}
    out_sw: dict[str, tuple[float, float]] = {}
    out_hv: dict[str, tuple[float, float]] = {}
    left = SITE_GAP / 2
    for site, sws, hvs, site_rows in parts:
        xs = [x for x, _ in [*sws.values(), *hvs.values()]] or [0.0]
        lo, hi = min(xs), max(xs)
        dx = left + PAD - lo
        dy = TOP + PAD + (rows - site_rows) * ROW_DY   # edge rows line up across sites
        out_sw.update({s: (x + dx, y + dy) for s, (x, y) in sws.items()})
        out_hv.update({h: (x + dx, hv_y + TOP + PAD) for h, (x, _) in hvs.items()})
        width = hi - lo + 2 * PAD
        out_sites[site] = Box(left, TOP, width, hv_y + HOSTS_DY + PAD + 60)
        left += width + SITE_GAP
    width = left - SITE_GAP / 2
    return Layout(out_sites, out_sw, out_hv, hv_y + TOP + PAD + HOSTS_DY, width,
                  (width / 2, TOP / 2))
