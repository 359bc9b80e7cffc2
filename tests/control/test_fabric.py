"""The fabric's parts: what the rest of the controller relies on of them."""

from __future__ import annotations

from ctrl.control.fabric import Link, PortRef, Switch, Topology, VNet
from ctrl.control.topology import PortRef as FromTopology


def test_a_port_reads_as_switch_colon_port_and_sorts_by_switch_then_port() -> None:
    ports = [PortRef("s2", 1), PortRef("s1", 10), PortRef("s1", 2)]
    assert [str(p) for p in sorted(ports)] == ["s1:2", "s1:10", "s2:1"]
    assert FromTopology is PortRef   # one class, wherever it is imported from


def test_a_networks_gateway_mac_and_a_sites_switches() -> None:
    topo = Topology(("a", "b"),
                    {"s1": Switch("s1", "a", 1, ""), "s2": Switch("s2", "b", 2, "")},
                    (Link(PortRef("s1", 1), PortRef("s2", 1)),), {},
                    {"blue": VNet("blue", 10, "02:00:00:00:00:01"), "red": VNet("red", 20)},
                    {})
    assert topo.gateway_mac(10) == "02:00:00:00:00:01"
    assert topo.gateway_mac(20) is None and topo.gateway_mac(30) is None
    assert [s.name for s in topo.switches_of_site("b")] == ["s2"]
