"""Controller logic without switches: learning, damping released on time, duplicates."""

from __future__ import annotations

import asyncio

import pytest

from ctrl.control.hosts import Damping, HostError, Location
from ctrl.control.runner import Controller
from ctrl.control.topology import parse_topology
from ctrl.p4rt.entity import PacketIn, TableEntry
from ctrl.p4rt.schema import P4Schema
from ctrl.punt.frames import rarp_announcement
from tests.control.test_planner import TOPO

MAC = 0x020000000101


def rarp_from(port: int, vnet: int = 10) -> PacketIn:
    return PacketIn(rarp_announcement(MAC), {"ingress_port": port, "reason": 2,
                                             "vnet_id": vnet})


def test_flapping_host_is_held_then_accepted_on_time(schema: P4Schema) -> None:
    async def scenario() -> None:
        c = Controller(parse_topology(TOPO), schema, b"{}",
                       damping=Damping(max_moves=1, window=10.0, hold=0.2, duplicate_window=0.0))
        await c._on_packet("s1", rarp_from(3))   # learned at s1:3
        await c._on_packet("s2", rarp_from(3))   # moved to s2:3
        await c._on_packet("s4", rarp_from(3))   # too soon: held
        assert c.metrics.learned == 1 and c.metrics.moves == 1 and c.metrics.damped == 1
        assert c.tracker.get(10, MAC).location == Location("s2", 3)
        await asyncio.sleep(0.4)
        assert c.tracker.get(10, MAC).location == Location("s4", 3)  # never banned
        assert c.metrics.moves == 2

    asyncio.run(scenario())


def test_frames_from_fabric_ports_or_unknown_vnet_teach_nothing(schema: P4Schema) -> None:
    async def scenario() -> None:
        c = Controller(parse_topology(TOPO), schema, b"{}")
        await c._on_packet("s1", rarp_from(1))       # s1:1 is a fabric link
        await c._on_packet("s1", rarp_from(3, vnet=0))  # no vnet and an unknown MAC
        assert len(c.tracker) == 0 and c.metrics.learned == 0

    asyncio.run(scenario())


def test_an_announced_move_to_another_site_has_its_tunnels_up_first(
        schema: P4Schema) -> None:
    topo = TOPO + ('vms:\n  vm2: {vnet: blue, mac: "02:00:00:00:01:02", ip: 10.0.2.1, '
                   'hypervisor: h2}\n')

    async def scenario() -> None:
        c = Controller(parse_topology(topo), schema, b"{}")
        assert c.planner.tunnels_up == set()
        await c.announce("vm2", "h3")                  # s2 (site a) -> s3 (site b)
        assert c.planner.tunnels_up == {("s1", "s3"), ("s3", "s1")}
        assert any(isinstance(e, TableEntry) and e.table == "tunnel_encap"
                   for e in c.wanted()["s1"])
        again = c.metrics.tunnels_brought_up
        await c.announce("vm2", "h3")                  # twice: as once
        assert c.metrics.tunnels_brought_up == again
        assert [f.to for f in c.in_flight.values()] == [Location("s3", 3)]
        await c.announce("vm2", "h4")                  # within its site: no tunnel
        assert c.metrics.tunnels_brought_up == again

    asyncio.run(scenario())


def test_a_move_to_another_site_brings_its_tunnels_with_it(schema: P4Schema) -> None:
    async def scenario() -> None:
        c = Controller(parse_topology(TOPO), schema, b"{}")
        await c._on_packet("s2", rarp_from(3))   # learned at s2:3, site a
        assert c.planner.tunnels_up == set()
        await c._on_packet("s3", rarp_from(3))   # moved to s3:3, site b: unannounced
        assert c.metrics.moves == 1
        assert c.planner.tunnels_up == {("s1", "s3"), ("s3", "s1")}
        assert any(isinstance(e, TableEntry) and e.table == "bridging"
                   and e.action == "bridging.to_tunnel" for e in c.wanted()["s1"])

    asyncio.run(scenario())


def test_a_switch_over_in_the_pause_moves_it_and_a_cancel_moves_it_back(
        schema: P4Schema) -> None:
    topo = TOPO + ('vms:\n  vm2: {vnet: blue, mac: "02:00:00:00:01:02", ip: 10.0.2.1, '
                   'hypervisor: h2}\n')

    async def scenario() -> None:
        c = Controller(parse_topology(topo), schema, b"{}")
        vm2 = c.find("vm2")
        await c.announce("vm2", "h3")
        await c.switch_over("vm2")                     # stopped at h2 for the last copy
        assert vm2.location == Location("s3", 3) and c.in_flight == {}
        assert c.metrics.moves == 1
        await c._on_packet("s3", PacketIn(rarp_announcement(vm2.mac),
                                          {"ingress_port": 3, "reason": 2, "vnet_id": 10}))
        assert c.metrics.moves == 1                    # its RARP finds it there
        await c.cancel("vm2")                          # and yet it did not move
        assert vm2.location == Location("s2", 3) and c.metrics.moves == 2
        with pytest.raises(HostError, match="no migration under way"):
            await c.cancel("vm2")
        with pytest.raises(HostError, match="no migration under way"):
            await c.switch_over("vm2")

    asyncio.run(scenario())
