"""What the web view is told, as JSON: the topology drawn, the state at a glance, the path
between two hosts. Pure: the controller's state in, plain dicts out.

The live feed (ctrl/northbound/web.py) sends each notice as {"kind", "data"}; the
snapshot a new page starts from is those same notices, made from the state as it is
(every host learned, every switch's status, migrations under way and finished, tunnels
up, links down), so the page folds one kind of message into its picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ctrl.control.core import ControlCore
from ctrl.control.hosts import Host, HostError
from ctrl.control.notices import (
    HostLearned,
    LinksChanged,
    MigrationChanged,
    Notice,
    SwitchChanged,
    TunnelsChanged,
)
from ctrl.control.planner import PlanError
from ctrl.control.session import SessionStatus
from ctrl.control.topology import Topology
from ctrl.northbound.layout import layout
from ctrl.p4rt.values import int_to_mac, to_int


def message(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """One message of the feed: its kind and its payload."""
    return {"kind": kind, "data": data}


def notice_message(n: Notice) -> dict[str, Any]:
    return message(n.kind, n.as_json())


def topology_json(topo: Topology) -> dict[str, Any]:
    """The declared topology with where to draw each part (ctrl/northbound/layout.py)."""
    at = layout(topo)
    vnet_ids = {name: v.id for name, v in topo.vnets.items()}
    return {
        "sites": [{"name": name, "x": box.x, "y": box.y, "w": box.w, "h": box.h}
                  for name, box in at.sites.items()],
        "switches": [{"name": s.name, "site": s.site, "x": at.switches[s.name][0],
                      "y": at.switches[s.name][1],
                      "underlay": None if s.underlay is None else s.underlay.ip}
                     for s in topo.switches.values()],
        "links": [{"a": str(link.a), "b": str(link.b)} for link in topo.links],
        "hypervisors": [{"name": name, "at": str(hv.attach),
                         "site": topo.switches[hv.attach.switch].site,
                         "x": at.hypervisors[name][0], "y": at.hypervisors[name][1]}
                        for name, hv in topo.hypervisors.items()],
        "vnets": [{"name": name, "id": v.id} for name, v in topo.vnets.items()],
        "hosts": [{"name": vm.name, "role": vm.role, "vnet": vnet_ids[vm.vnet],
                   "mac": int_to_mac(to_int(vm.mac)), "ip": vm.ip,
                   "hypervisor": vm.hypervisor} for vm in topo.vms.values()],
        "hosts_y": at.hosts_y,
        "width": at.width,
        "wan": {"x": at.wan[0], "y": at.wan[1]},
    }


def snapshot(core: ControlCore, statuses: dict[str, SessionStatus], now: float,
             may_write: bool) -> dict[str, Any]:
    """The state as it is, as the notices that would have made it."""
    return {"now": now, "may_write": may_write,
            "notices": [notice_message(n) for n in snapshot_notices(core, statuses, now)]}


def snapshot_notices(core: ControlCore, statuses: dict[str, SessionStatus], now: float
                     ) -> list[Notice]:
    """The notices that would have made the state as it is: every host learned, every
    switch's status, the migrations finished and under way, tunnels up, links down."""
    notices: list[Notice] = [HostLearned(h.vnet, h.mac, h.ip, h.location, h.since)
                             for h in core.tracker.hosts()]
    notices += [SwitchChanged(name, st.connected, st.primary, st.in_sync, now)
                for name, st in sorted(statuses.items())]
    notices += [MigrationChanged(m) for m in core.migrations.finished]
    notices += [MigrationChanged(m) for m in core.migrations]
    up = core.tunnels_up
    notices.append(TunnelsChanged(frozenset(core.planner.tunnels()) if up is None else up, now))
    notices.append(LinksChanged(core.planner.links_down, now))
    return notices


@dataclass(frozen=True, slots=True)
class Route:
    """From one host's switch to another's: switches in order; `tunnel` the two gateways
    where the route crosses sites (and whether that tunnel is up now)."""

    src: Host
    dst: Host
    hops: Sequence[str]
    tunnel: tuple[str, str] | None
    tunnel_up: bool

    def as_json(self, names: dict[int, str]) -> dict[str, Any]:
        def end(h: Host) -> dict[str, Any]:
            return {"name": names.get(h.mac), "mac": int_to_mac(h.mac), "at": str(h.location)}

        return {"src": end(self.src), "dst": end(self.dst), "hops": list(self.hops),
                "tunnel": None if self.tunnel is None else {
                    "from": self.tunnel[0], "to": self.tunnel[1], "up": self.tunnel_up}}


class NoRoute(HostError):
    """No path between two hosts' switches (links down, or a site without a gateway)."""


def route(core: ControlCore, src: str, dst: str) -> Route:
    """The way frames take from host `src` to host `dst` (names or MACs), as the planner
    computes it: the fewest links inside a site, through the sites' gateways and their
    GRE tunnel across sites. HostError for an unknown host, NoRoute for no way."""
    a, b = core.find(src), core.find(dst)
    sa, sb = a.location.switch, b.location.switch
    planner = core.planner
    try:
        pair = planner.tunnel_between(sa, sb)
    except PlanError as exc:
        raise NoRoute(str(exc)) from None
    if pair is None:
        hops = planner.path(sa, sb)
        if hops is None:
            raise NoRoute(f"no path from {sa} to {sb}")
        return Route(a, b, hops, None, False)
    first, second = planner.path(sa, pair[0]), planner.path(pair[1], sb)
    if first is None or second is None:
        raise NoRoute(f"no path from {sa} to {sb} through gateways {pair[0]} and {pair[1]}")
    return Route(a, b, [*first, *second], pair,
                 planner.tunnel_is_up(core.tunnels_up, *pair))


def host_names(topo: Topology) -> dict[int, str]:
    """MAC -> the declared name of each VM and client."""
    return {to_int(vm.mac): vm.name for vm in topo.vms.values()}
