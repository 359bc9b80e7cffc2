"""The core's GRE tunnels: up with a move across sites, watched by their counters,
released when idle, and everything that depended on them written back."""

from __future__ import annotations

from ctrl.control.core import ControlCore, Options
from ctrl.control.topology import parse_topology
from ctrl.p4rt.entity import TableEntry
from tests.topologies import TOPO, VM2


def tunnel_entries(core: ControlCore, switch: str) -> int:
    return sum(isinstance(e, TableEntry) and e.table == "tunnel_encap"
               for e in core.wanted(switch))


def test_an_idle_tunnel_is_released_and_one_in_use_is_kept() -> None:
    core = ControlCore(parse_topology(TOPO + VM2), Options(tunnel_idle=10.0))
    core.announce("vm2", "h3", 1.0)                    # site a -> site b: s1 <-> s3 up
    assert core.tunnel_gateways() == ["s1", "s3"]
    assert tunnel_entries(core, "s1") == 1
    tid, back = core.planner.tunnel_id("s1", "s3"), core.planner.tunnel_id("s3", "s1")
    for now, count in ((2.0, 5), (8.0, 9)):            # traffic both ways: not idle
        core.tunnel_counters("s1", {tid: count}, now)
        core.tunnel_counters("s3", {back: count}, now)
    assert not [p for p in core.tick(12.0) if p.why == "tunnels idle"]
    assert core.tunnels_up is not None and ("s1", "s3") in core.tunnels_up
    core.tunnel_counters("s1", {tid: 9}, 20.0)         # still since 8.0
    core.tunnel_counters("s3", {back: 9}, 20.0)
    released = [p for p in core.tick(30.0) if p.why == "tunnels idle"]
    assert len(released) == 1 and released[0].writes() > 0
    assert core.tunnels_up == frozenset() and core.metrics.tunnels_released == 2
    assert tunnel_entries(core, "s1") == 0 and core.tunnel_gateways() == []
    assert any(n.kind == "tunnels" for n in core.take_notices())


def test_tunnels_always_up_are_never_released() -> None:
    core = ControlCore(parse_topology(TOPO + VM2), Options(tunnels_on_demand=False))
    assert core.tunnels_up is None and core.tunnel_gateways() == []
    core.tunnel_counters("s1", {1: 0}, 1.0)            # nothing to watch: ignored
    assert not [p for p in core.tick(1e6) if p.why == "tunnels idle"]
    assert tunnel_entries(core, "s1") > 0
