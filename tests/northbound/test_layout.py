"""Where the web view draws things: rows, no overlaps, sites side by side."""

from __future__ import annotations

from itertools import combinations, pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from ctrl.control.topology import Topology, parse_topology
from ctrl.lab.cli import read_topology
from ctrl.lab.spec import parse_lab
from ctrl.northbound.layout import SWITCH_DX, layout, natural


def shipped(name: str) -> Topology:
    text, origin = read_topology(name)
    return parse_lab(text, origin).topology


def rows(topo: Topology) -> dict[float, list[float]]:
    out: dict[float, list[float]] = {}
    for x, y in layout(topo).switches.values():
        out.setdefault(y, []).append(x)
    return out


def no_overlap(topo: Topology) -> None:
    for xs in rows(topo).values():
        for a, b in combinations(sorted(xs), 2):
            assert b - a >= SWITCH_DX - 1e-6


def test_cloud_rack_two_sites_side_by_side() -> None:
    topo = shipped("cloud-rack")
    at = layout(topo)
    a, b = at.sites["campus-a"], at.sites["campus-b"]
    assert a.x + a.w < b.x                       # apart, A on the left
    for name in ("a1", "a2"):
        x, _ = at.switches[name]
        assert a.x < x < a.x + a.w
    x, _ = at.switches["b1"]
    assert b.x < x < b.x + b.w
    # each hypervisor under its own switch's row, below it
    for hv, sw in (("server1", "a1"), ("server2", "a2"), ("server3", "b1"), ("desk", "a1")):
        assert at.hypervisors[hv][1] > at.switches[sw][1]
    # an edge switch stands over the middle of its hypervisors
    assert at.switches["a1"][0] == (at.hypervisors["server1"][0] + at.hypervisors["desk"][0]) / 2
    assert at.hosts_y > max(y for _, y in at.hypervisors.values())
    no_overlap(topo)


def test_fat_tree_core_over_aggregation_over_edge() -> None:
    topo = shipped("fat-tree:4")
    at = layout(topo)
    ys = {kind: {at.switches[s][1] for s in topo.switches if kind in s}
          for kind in ("c", "a", "e")}
    assert all(len(v) == 1 for v in ys.values())          # one row each
    assert ys["c"].pop() < ys["a"].pop() < ys["e"].pop()   # core on top
    no_overlap(topo)
    # edge switches left to right in their natural order
    edges = sorted((s for s in topo.switches if "e" in s), key=natural)
    xs = [at.switches[s][0] for s in edges]
    assert xs == sorted(xs)


def test_stanford_and_every_switch_placed_once() -> None:
    topo = shipped("stanford")
    at = layout(topo)
    assert set(at.switches) == set(topo.switches)
    assert set(at.hypervisors) == set(topo.hypervisors)
    no_overlap(topo)


def test_natural_order() -> None:
    assert sorted(["p2e10", "p2e9", "p10e1"], key=natural) == ["p2e9", "p2e10", "p10e1"]


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 7), st.data())
def test_any_chain_with_hypervisors_anywhere_has_no_overlap(n: int, data: st.DataObject) -> None:
    sw = [f"s{i}" for i in range(n)]
    links = [f"  - [{a}:1, {b}:2]" for a, b in pairwise(sw)]
    with_hv = data.draw(st.lists(st.sampled_from(sw), min_size=1, max_size=n, unique=True))
    text = ("switches:\n" + "".join(f"  {s}: {{device_id: {i + 1}, grpc_addr: "
                                    f"'127.0.0.1:{i + 1}'}}\n" for i, s in enumerate(sw))
            + "links:\n" + "\n".join(links) + "\nhypervisors:\n"
            + "".join(f"  h{s}: {{switch: {s}, port: 3}}\n" for s in with_hv))
    topo = parse_topology(text)
    no_overlap(topo)
    at = layout(topo)
    assert len({round(y) for _, y in at.switches.values()}) <= n
