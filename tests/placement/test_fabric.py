"""The fabric's distances are the links a frame crosses under the planner's own entries
(within a site, and through a GRE tunnel across sites), with links down taken out; and
the batched costs pick the cheapest hypervisor."""

from __future__ import annotations

import math

import networkx as nx
import pytest

from ctrl.control.planner import PlacedVM, Planner
from ctrl.control.topology import PortRef, Topology, parse_topology
from ctrl.lab.cli import read_topology
from ctrl.p4rt.values import to_int
from ctrl.placement.fabric import Fabric
from ctrl.placement.manager import HypervisorView, Policy, VMView
from tests.topologies import TOPO, VMS


def stanford() -> Topology:
    return parse_topology(read_topology("stanford")[0], addresses=False)


def walked(planner: Planner, topo: Topology, src: str, dst: str) -> int | None:
    """Links a frame from `src` crosses to a VM on `dst` under the planner's bridging
    entries: each forward to a fabric port is one, a tunnel is one."""
    vm = PlacedVM(10, 0x02AA00000001, None, PortRef(dst, 200))
    ports = {(x.a.switch, x.a.port): x.b.switch for x in topo.links}
    ports.update({(x.b.switch, x.b.port): x.a.switch for x in topo.links})
    far = {(a, tid): b for (a, b), tid in planner.tunnels().items()}
    sw, links = src, 0
    while sw != dst:
        e = planner.toward(sw, vm, None)
        if e is None or links > len(topo.switches):
            return None
        nxt = (ports.get((sw, to_int(e.params["port"]))) if e.action == "bridging.forward"
               else far.get((sw, to_int(e.params["tunnel_id"]))))
        if nxt is None:
            return None
        sw, links = nxt, links + 1
    return links


@pytest.mark.parametrize("topo", [parse_topology(TOPO + VMS), stanford()],
                         ids=["two-sites", "stanford"])
def test_distances_are_the_links_forwarding_takes(topo: Topology) -> None:
    planner = Planner(topo)
    fabric = Fabric(topo)
    for a in topo.switches:
        for b in topo.switches:
            assert fabric.links(a, b) == walked(planner, topo, a, b), (a, b)


def test_links_down_are_taken_out_as_forwarding_takes_them_out() -> None:
    topo = stanford()
    down = {x for x in topo.links if {x.a.switch, x.b.switch} == {"g-core", "p-core"}}
    planner = Planner(topo)
    planner.set_links_down(down)
    fabric = Fabric(topo, down)
    g = nx.Graph([(x.a.switch, x.b.switch) for x in topo.links if x not in down])
    for a in topo.switches:
        for b in topo.switches:
            assert fabric.links(a, b) == walked(planner, topo, a, b) \
                == nx.shortest_path_length(g, a, b)
    assert fabric.links("p-core", "g-1") == 3   # p-core p-2 g-2 g-1: the long way round


def view(name: str, hypervisor: str, switch: str, demand: dict[str, float],
         hypervisors: tuple[str, ...] = ()) -> VMView:
    return VMView(name, hypervisor, switch, Policy("follow-clients", {}, hypervisors), 0.0,
                  512, demand, {})


def hyps(topo: Topology, load: dict[str, int] | None = None,
         full: tuple[str, ...] = ()) -> dict[str, HypervisorView]:
    out = {}
    for h in topo.hypervisors.values():
        n = (load or {}).get(h.name, 0)
        out[h.name] = HypervisorView(h.name, h.attach.switch, "default",
                                     h.max_vms != 0, 1 if h.name in full else h.max_vms,
                                     h.max_memory_mb, tuple(f"v{i}" for i in range(n)), 0)
    return out


def test_best_weighs_the_traffic_by_links() -> None:
    topo = stanford()
    fabric = Fabric(topo)
    h = hyps(topo)
    both_at_packard = view("game", "vmhost-gates", "g-1", {"p-core": 100.0})
    split = view("game", "vmhost-gates", "g-1", {"p-core": 100.0, "g-2": 300.0})
    idle = view("game", "vmhost-gates", "g-1", {})
    r1, r2, r3 = fabric.best([both_at_packard, split, idle], h)
    assert (r1.best, r1.cost, r1.here) == ("vmhost-packard", 100.0, 200.0)
    assert dict(r1.costs) == {"vmhost-gates": 200.0, "vmhost-packard": 100.0}
    assert (r2.best, r2.cost, r2.here) == ("vmhost-gates", 100 * 2 + 300 * 1, 500.0)
    assert r2.costs["vmhost-packard"] == 100 * 1 + 300 * 2
    assert r3.best == "vmhost-gates" and r3.cost == r3.here == 0.0   # ties: first in order
    # Access points hold no VMs: never a candidate, whatever the traffic says.
    assert "ap-packard" not in r1.costs and len(r1.costs) == 2


def test_best_keeps_to_the_policy_and_prefers_room_on_a_switch() -> None:
    topo = parse_topology(TOPO + VMS)
    fabric = Fabric(topo)
    h = hyps(topo)
    only = view("vm1", "h1", "s1", {"s3": 50.0}, ("h1", "h2"))
    free = view("vm2", "h2", "s2", {"s3": 50.0})
    r1, r2 = fabric.best([only, free], h)
    assert r1.best == "h1" and set(r1.costs) == {"h1", "h2"}   # h3 (on s3) not allowed
    assert r2.best == "h3" and r2.cost == 0.0 and r2.here == 50.0 * 2
    cut = Fabric(topo, set(topo.links))
    r = cut.best([view("vm1", "h1", "s1", {"s2": 5.0})], h)[0]
    assert r.here == math.inf and r.best == "h2"
