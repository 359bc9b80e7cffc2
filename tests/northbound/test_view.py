"""What the web view is told: the topology drawn, the snapshot, the path between hosts."""

from __future__ import annotations

import json

import pytest

from ctrl.control.core import ControlCore
from ctrl.control.hosts import HostError
from ctrl.control.session import SessionStatus
from ctrl.control.topology import Link, PortRef, parse_topology
from ctrl.northbound.view import NoRoute, host_names, route, snapshot, topology_json
from tests.topologies import TOPO, VMS

VM3 = '  vm3: {vnet: blue, mac: "02:00:00:00:01:03", ip: 10.0.3.1, hypervisor: h3}\n'


def core() -> ControlCore:
    return ControlCore(parse_topology(TOPO + VMS + VM3), now=1.0)


def status(connected: bool) -> SessionStatus:
    return SessionStatus(connected, connected, "kept", connected, 0, 0, 0, 0, 0, "", None)


def test_topology_json_names_every_part_and_places_it() -> None:
    topo = parse_topology(TOPO + VMS + VM3)
    out = json.loads(json.dumps(topology_json(topo)))   # plain JSON all through
    assert [s["name"] for s in out["switches"]] == ["s1", "s2", "s4", "s3"]
    assert {s["name"]: s["underlay"] for s in out["switches"]}["s1"] == "192.0.2.1"
    assert [(x["a"], x["b"]) for x in out["links"]] == [("s1:1", "s2:1"), ("s2:2", "s4:1"),
                                                       ("s1:2", "s4:2")]
    assert {h["name"]: (h["at"], h["site"]) for h in out["hypervisors"]}["h3"] == ("s3:3", "b")
    assert {h["name"]: (h["mac"], h["hypervisor"], h["role"]) for h in out["hosts"]}["vm3"] \
        == ("02:00:00:00:01:03", "h3", "vm")
    assert [s["name"] for s in out["sites"]] == ["a", "b"]
    assert all(isinstance(s["x"], float) for s in out["switches"])


def test_snapshot_is_the_notices_that_make_the_state() -> None:
    c = core()
    c.planner.set_links_down({Link(PortRef("s1", 1), PortRef("s2", 1))})
    snap = snapshot(c, {"s1": status(True), "s2": status(False)}, 5.0, True)
    kinds = [m["kind"] for m in snap["notices"]]
    assert kinds.count("host-learned") == 3
    assert kinds.count("switch") == 2
    hosts = {m["data"]["mac"]: m["data"]["at"] for m in snap["notices"]
             if m["kind"] == "host-learned"}
    assert hosts == {"02:00:00:00:01:01": "s1:3", "02:00:00:00:01:02": "s2:3",
                     "02:00:00:00:01:03": "s3:3"}
    tunnels = next(m["data"] for m in snap["notices"] if m["kind"] == "tunnels")
    assert tunnels["up"] == []                      # on demand: none up yet
    links = next(m["data"] for m in snap["notices"] if m["kind"] == "links")
    assert links["down"] == [["s1:1", "s2:1"]]
    assert snap["now"] == 5.0 and snap["may_write"] is True
    json.dumps(snap)


def test_an_announced_migration_is_in_the_snapshot() -> None:
    c = core()
    c.announce("vm2", "h4", 2.0)
    snap = snapshot(c, {}, 3.0, True)
    (m,) = [m["data"] for m in snap["notices"] if m["kind"] == "migration"]
    assert (m["from"], m["to"], m["phase"], m["announced"]) == ("s2:3", "s4:3", "announced", 2.0)


def test_route_within_a_site_and_across_sites() -> None:
    c = core()
    names = host_names(c.topo)
    inside = route(c, "vm1", "vm2")
    assert list(inside.hops) == ["s1", "s2"] and inside.tunnel is None
    across = route(c, "vm2", "02:00:00:00:01:03")   # by name and by MAC
    assert list(across.hops) == ["s2", "s1", "s3"]
    assert across.tunnel == ("s1", "s3") and across.tunnel_up is False
    out = across.as_json(names)
    assert out["src"] == {"name": "vm2", "mac": "02:00:00:00:01:02", "at": "s2:3"}
    assert out["tunnel"] == {"from": "s1", "to": "s3", "up": False}


def test_route_errors() -> None:
    c = core()
    with pytest.raises(HostError, match="no VM 'vm9'"):
        route(c, "vm1", "vm9")
    c.planner.set_links_down({Link(PortRef("s1", 1), PortRef("s2", 1)),
                              Link(PortRef("s2", 2), PortRef("s4", 1))})
    with pytest.raises(NoRoute, match="no path from s1 to s2"):
        route(c, "vm1", "vm2")
