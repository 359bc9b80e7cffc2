"""The controller on real switches (bmv2, and the OVS target): VMs in namespaces talk,
one migrates, talk goes on.

  campus:    vm1 --h1-- [s1] --link-- [s2] --h2-- vm2, free port h3 on s2
  two-sites: vm1 --h1-- [s1] ==GRE over the underlay== [s2] --h2-- vm2, h3 on s1

On the Open vSwitch target, campus is two bridges of one ovs-vswitchd; two-sites is
one ovs-vswitchd per site, each in a network namespace of its own whose kernel holds
that site's underlay address (192.0.2.1, 192.0.2.2), joined by one veth pair.

vm2 "live-migrates" from h2 to h3: its interface is swapped for the one behind
h3 (same MAC and IP), and it announces itself with RARP as QEMU does. The
controller learns the move from the RARP, rewrites only what changed, and UDP
and a TCP connection opened before the move work after it. In two-sites the
VMs first talk through the GRE tunnel, then, after vm2 moves into vm1's site,
directly. Needs root, and simple_switch_grpc or Open vSwitch.
"""


from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ctrl.control.plans import Plan
from ctrl.control.runner import Controller
from ctrl.control.topology import PortRef, parse_topology
from ctrl.p4rt.build import BuildPaths
from ctrl.p4rt.schema import P4Schema
from ctrl.p4rt.values import to_int
from ctrl.platform import netns
from ctrl.punt.frames import (
    BROADCAST,
    ETHERTYPE_ARP,
    arp_reply,
    build_arp,
    parse_arp,
    rarp_announcement,
)
from ctrl.targets.bmv2 import Bmv2Switch, find_simple_switch_grpc
from ctrl.targets.ovs.target import BridgeSpec, serving
from tests.control.live import (
    VM1_IP,
    VM1_MAC,
    VM2_IP,
    VM2_MAC,
    VMS,
    ControllerThread,
    configure_vm,
    move_link,
    synced,
)
from tests.packet.ovs_target import ovs_available
from tests.traffic import udp_exchange

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and veth pairs"),
]


CAMPUS = """\
switches:
  s1: {{device_id: 1, grpc_addr: "{addr1}"}}
  s2: {{device_id: {dev2}, grpc_addr: "{addr2}"}}
links:
  - [s1:1, s2:1]
hypervisors:
  h1: {{switch: s1, port: 2}}
  h2: {{switch: s2, port: 2}}
  h3: {{switch: s2, port: 3}}
"""

# Cloud Rack's shape: two sites joined only by a routed underlay, GRE between gateways.
TWO_SITES = """\
sites: {{campus-a: {{}}, campus-b: {{}}}}
switches:
  s1: {{site: campus-a, device_id: 1, grpc_addr: "{addr1}",
        underlay: {{ip: 192.0.2.1, port: 1}}}}
  s2: {{site: campus-b, device_id: {dev2}, grpc_addr: "{addr2}",
        underlay: {{ip: 192.0.2.2, port: 1}}}}
hypervisors:
  h1: {{switch: s1, port: 2}}
  h2: {{switch: s2, port: 2}}
  h3: {{switch: s1, port: 3}}
"""


# layout -> (topology template, the switch that has the free hypervisor port h3, target);
# "ovs-sites": the Open vSwitch target with each switch in a namespace (site) of its own
LAYOUTS = {"campus": (CAMPUS, "s2", "bmv2"), "two-sites": (TWO_SITES, "s1", "bmv2"),
           "campus-on-ovs": (CAMPUS, "s2", "ovs"),
           "two-sites-on-ovs": (TWO_SITES, "s1", "ovs-sites")}


@pytest.fixture(params=sorted(LAYOUTS))
def fabric(request: pytest.FixtureRequest, tmp_path: Path, schema: P4Schema
           ) -> Iterator[dict[str, str]]:
    template, h3_switch, target = LAYOUTS[request.param]
    if target == "bmv2" and find_simple_switch_grpc() is None:
        pytest.skip("bmv2 simple_switch_grpc is not on PATH")
    if target.startswith("ovs") and (why := ovs_available()) is not None:
        pytest.skip(why)
    tag = f"{os.getpid() % 10000}"
    names = {"vm1": f"cvm1{tag}", "vm2": f"cvm2{tag}", "h2": f"chv2{tag}", "h3": f"chv3{tag}"}
    per_site = target == "ovs-sites"
    # OVS runs in namespaces of its own: one per site, or one for the campus (two userspace
    # ovs-vswitchd in one namespace fight over the datapath's tap device).
    sw_ns = ({"s1": f"csite1{tag}", "s2": f"csite2{tag}"} if per_site else
             {"s1": f"chost{tag}", "s2": f"chost{tag}"} if target == "ovs" else {})
    h3_ns = sw_ns.get(h3_switch)
    with contextlib.ExitStack() as stack:
        for ns in (*names.values(), *sorted(set(sw_ns.values()))):
            netns.create_netns(ns)
            stack.callback(netns.remove_netns, ns)
        veths: list[tuple[str, str | None, str, str | None]] = [
            # s1:1 -- s2:1 (fabric link or underlay)
            (f"c{tag}l1", sw_ns.get("s1"), f"c{tag}l2", sw_ns.get("s2")),
            (f"c{tag}h1", sw_ns.get("s1"), "eth0", names["vm1"]),  # s1:2 -- vm1
            (f"c{tag}h2", sw_ns.get("s2"), "eth0", names["vm2"]),  # s2:2 -- vm2
            (f"c{tag}h3", h3_ns, "eth3", names["h3"]),  # h3 -- free port on hypervisor 3
        ]
        for a, a_ns, b, b_ns in veths:
            netns.add_veth(a, b, peer_ns=b_ns, ns=a_ns)
            stack.callback(netns.delete_link, a, a_ns)
        configure_vm(names["vm1"], "eth0", VM1_MAC, VM1_IP)
        configure_vm(names["vm2"], "eth0", VM2_MAC, VM2_IP)
        ports1 = {1: f"c{tag}l1", 2: f"c{tag}h1"}
        ports2 = {1: f"c{tag}l2", 2: f"c{tag}h2"}
        (ports1 if h3_switch == "s1" else ports2)[3] = f"c{tag}h3"
        if target.startswith("ovs"):
            specs = [BridgeSpec(f"cb{i}{tag}", i, ports, sw_ns.get(f"s{i}"), gre=per_site)
                     for i, ports in ((1, ports1), (2, ports2))]
            for spec in specs:
                for ifname in spec.ports.values():
                    netns.set_offloads(ifname, spec.netns, tx=False)
            ovs = stack.enter_context(serving(tmp_path / "ovs", specs, schema))
            addr1 = addr2 = ovs.address
            dev2 = 2
        else:
            s1 = Bmv2Switch(ports1, log_file=tmp_path / "s1.log")
            s2 = Bmv2Switch(ports2, log_file=tmp_path / "s2.log")
            for sw in (s1, s2):
                sw.start()
                stack.callback(sw.stop)
            addr1, addr2, dev2 = s1.grpc_addr, s2.grpc_addr, 1
        names["topology"] = template.format(addr1=addr1, addr2=addr2, dev2=dev2) + VMS
        names["h3_switch"] = h3_switch
        yield names


def test_vms_talk_then_one_migrates_and_they_talk_again(
        fabric: dict[str, str], schema: P4Schema, build_paths: BuildPaths) -> None:
    topo = parse_topology(fabric["topology"], "test topology")
    controller = Controller(topo, schema, build_paths.json.read_bytes())
    with ControllerThread(controller) as ct:
        assert asyncio.run_coroutine_threadsafe(
            asyncio.wait_for(controller.synced.wait(), 30), ct.loop).result(35) is True
        assert udp_exchange(fabric["vm1"], fabric["vm2"], VM2_IP)
        assert controller.metrics.proxy_arp_replies >= 1  # ARP answered, never flooded
        ask_again_answered_in_c(controller, fabric["vm1"],
                                same_site=topo.switches["s1"].site == topo.switches["s2"].site)
        # A TCP connection from vm1 to vm2, open across the migration.
        with netns.in_netns(fabric["vm2"]):
            listener = socket.create_server((VM2_IP, 7008))
        with netns.in_netns(fabric["vm1"]):
            conn = socket.create_connection((VM2_IP, 7008), timeout=5)
        peer, _ = listener.accept()
        peer.settimeout(5)
        conn.sendall(b"before")
        assert peer.recv(100) == b"before"

        # Live migration of vm2 from h2 to h3: the same MAC and IP (two-sites: to the other
        # site, so its traffic leaves the GRE tunnel).
        move_link("eth0", fabric["vm2"], fabric["h2"], "old0")
        move_link("eth3", fabric["h3"], fabric["vm2"], "eth0")
        configure_vm(fabric["vm2"], "eth0", VM2_MAC, VM2_IP)
        rarp = netns.raw_socket("eth0", fabric["vm2"])
        with rarp:
            rarp.send(rarp_announcement(to_int(VM2_MAC)))
        deadline = time.monotonic() + 10
        while controller.metrics.moves == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert controller.metrics.moves == 1
        host = controller.core.tracker.get(10, to_int(VM2_MAC))
        assert host.location == PortRef(fabric["h3_switch"], 3)
        # Every write of the move was taken as sent: none refused, re-read and repaired.
        assert {n: s.repairs for n, s in controller.sessions.items()} == {"s1": 0, "s2": 0}
        assert udp_exchange(fabric["vm1"], fabric["vm2"], VM2_IP)
        conn.sendall(b"after")  # the same connection, now to the new location
        assert peer.recv(100) == b"after"
        peer.sendall(b"and back")
        assert conn.recv(100) == b"and back"
        for s in (conn, peer, listener):
            s.close()
        print(f"\nconvergence after the RARP: {controller.rounds.convergence_s[0] * 1e3:.1f} ms")


def ask_again_answered_in_c(controller: Controller, vm1: str, same_site: bool) -> None:
    """vm1 asks for vm2's MAC again, both settled now: in one site the request is answered
    beside the quiet filter in C (one buffer of packet-outs a batch), across sites by the
    core (a tunnel first); either way the reply through the switch is the bytes
    arp_reply makes."""
    in_c: list[int] = []
    punted = controller.core.punted

    def counted(*args: Any) -> list[Plan]:
        plans = punted(*args)
        in_c.extend(len(p.outs) for p in plans if p.outs)
        return plans
    controller.core.punted = counted  # type: ignore[method-assign,assignment]
    ask = build_arp(ETHERTYPE_ARP, eth_src=to_int(VM1_MAC), eth_dst=BROADCAST, oper=1,
                    sha=to_int(VM1_MAC), spa=to_int(VM1_IP), tha=0, tpa=to_int(VM2_IP))
    request = parse_arp(ask)
    assert request is not None
    want = arp_reply(request, to_int(VM2_MAC))
    try:
        with netns.raw_socket("eth0", vm1) as sock:
            sock.settimeout(0.1)
            sock.send(ask)
            deadline, got = time.monotonic() + 5, b""
            while got != want and time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError):
                    got = netns.recv_frame(sock)
    finally:
        controller.core.punted = punted  # type: ignore[method-assign]
    assert got == want
    assert sum(in_c) == (1 if same_site else 0)


def udp_to_port(sock: socket.socket, port: int, timeout: float = 1.0) -> list[bytes]:
    """The payloads of the UDP datagrams to `port` that reach a raw socket in `timeout`."""
    got: list[bytes] = []
    sock.settimeout(0.05)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            frame = netns.recv_frame(sock)
        except TimeoutError:
            continue
        ihl = (frame[14] & 0x0F) * 4 if len(frame) > 14 else 0
        if (len(frame) >= 14 + ihl + 8 and frame[12:14] == b"\x08\x00" and frame[23] == 17
                and int.from_bytes(frame[14 + ihl + 2:14 + ihl + 4], "big") == port):
            got.append(frame[14 + ihl + 8:])
    return got


@pytest.mark.parametrize("fabric", ["campus", "campus-on-ovs"], indirect=True)
def test_announced_migration_delivers_at_both_locations_until_the_rarp(
        fabric: dict[str, str], schema: P4Schema, build_paths: BuildPaths) -> None:
    """`ctrl migrate vm2 --to h3`: until vm2's RARP at h3, what vm1 sends it reaches both
    the old and the new location, each datagram once; the RARP ends it."""
    topo = parse_topology(fabric["topology"], "test topology")
    controller = Controller(topo, schema, build_paths.json.read_bytes())
    with ControllerThread(controller) as ct:
        def call(coro: Any) -> Any:
            return asyncio.run_coroutine_threadsafe(coro, ct.loop).result(35)

        assert call(asyncio.wait_for(controller.synced.wait(), 30)) is True
        assert udp_exchange(fabric["vm1"], fabric["vm2"], VM2_IP)
        call(controller.announce("vm2", "h3"))
        with netns.in_netns(fabric["vm1"]):
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        old = netns.raw_socket("eth0", fabric["vm2"])
        new = netns.raw_socket("eth3", fabric["h3"])
        with sender, old, new:
            sent = [f"dual {i}".encode() for i in range(20)]
            for payload in sent:
                sender.sendto(payload, (VM2_IP, 7009))
            assert udp_to_port(old, 7009) == sent
            assert udp_to_port(new, 7009) == sent
        # The VM lands at h3 and announces itself: one location again.
        move_link("eth0", fabric["vm2"], fabric["h2"], "old0")
        move_link("eth3", fabric["h3"], fabric["vm2"], "eth0")
        configure_vm(fabric["vm2"], "eth0", VM2_MAC, VM2_IP)
        with netns.raw_socket("eth0", fabric["vm2"]) as rarp:
            rarp.send(rarp_announcement(to_int(VM2_MAC)))
        deadline = time.monotonic() + 10
        while controller.metrics.moves == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert controller.metrics.moves == 1 and controller.migration("vm2") is None
        assert udp_exchange(fabric["vm1"], fabric["vm2"], VM2_IP)
        netns.link_set("old0", fabric["h2"], state="up")
        with netns.raw_socket("old0", fabric["h2"]) as gone:
            with netns.in_netns(fabric["vm1"]):
                sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with sender:
                sender.sendto(b"only new", (VM2_IP, 7009))
            assert udp_to_port(gone, 7009, timeout=0.5) == []


@pytest.mark.parametrize("fabric", ["two-sites", "two-sites-on-ovs"], indirect=True)
def test_tunnels_come_up_on_demand_and_go_when_idle(
        fabric: dict[str, str], schema: P4Schema, build_paths: BuildPaths) -> None:
    """The tunnel between the sites comes up for vm1's ARP; idle, it is released; the
    next datagram (ARP cached) is punted by the gateway, which the controller sends
    through the tunnel it brings back up: that first datagram is not lost."""
    topo = parse_topology(fabric["topology"], "test topology")
    controller = Controller(topo, schema, build_paths.json.read_bytes(), tunnel_idle=0.6)
    assert controller.core.tunnels_up == frozenset()
    with ControllerThread(controller) as ct:
        assert asyncio.run_coroutine_threadsafe(
            asyncio.wait_for(controller.synced.wait(), 30), ct.loop).result(35) is True
        assert udp_exchange(fabric["vm1"], fabric["vm2"], VM2_IP)
        assert controller.metrics.tunnels_brought_up == 1
        async def tunnel_entries_installed() -> int:   # as the switches say
            count = 0
            for s in controller.sessions.values():
                if s.client is not None:
                    count += len(await s.client.read_table("tunnel_encap"))
            return count

        def installed() -> int:
            return asyncio.run_coroutine_threadsafe(tunnel_entries_installed(),
                                                    ct.loop).result(5)

        # Released means written: the switches hold no tunnel any more (the controller
        # counts a release before its writes are done).
        deadline = time.monotonic() + 10
        while (controller.core.tunnels_up or installed()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert controller.core.tunnels_up == frozenset()
        assert installed() == 0
        assert controller.metrics.tunnels_released == 2
        with netns.in_netns(fabric["vm2"]):
            server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with netns.in_netns(fabric["vm1"]):
            client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with server, client:
            server.bind((VM2_IP, 7010))
            server.settimeout(3)
            client.sendto(b"first", (VM2_IP, 7010))   # once: no retry hides a loss
            assert server.recv(100) == b"first"
        assert controller.metrics.tunnels_brought_up == 2


def move_vm2_to_h3(fabric: dict[str, str], announce: bool = True) -> None:
    """vm2's interface swapped for the one behind h3, and its RARP out of it."""
    move_link("eth0", fabric["vm2"], fabric["h2"], "old0")
    move_link("eth3", fabric["h3"], fabric["vm2"], "eth0")
    configure_vm(fabric["vm2"], "eth0", VM2_MAC, VM2_IP)
    if announce:
        with netns.raw_socket("eth0", fabric["vm2"]) as rarp:
            rarp.send(rarp_announcement(to_int(VM2_MAC)))


@pytest.mark.parametrize("fabric", ["campus-on-ovs", "two-sites-on-ovs", "campus"],
                         indirect=True)
def test_a_restarted_controller_keeps_every_vm_where_it_is(
        fabric: dict[str, str], schema: P4Schema, build_paths: BuildPaths) -> None:
    """vm2 moves; the controller stops (its switches keep their state) and another starts
    from the same topology file, which still declares vm2 at h2: it finds vm2 at h3 in
    what the switches hold, writes nothing, and traffic flows."""
    config = build_paths.json.read_bytes()
    first = Controller(parse_topology(fabric["topology"]), schema, config)
    with ControllerThread(first) as ct:
        assert synced(ct)
        assert udp_exchange(fabric["vm1"], fabric["vm2"], VM2_IP)
        move_vm2_to_h3(fabric)
        deadline = time.monotonic() + 10
        while not first.rounds.convergence_s and time.monotonic() < deadline:
            time.sleep(0.02)
        assert first.find("vm2").location == PortRef(fabric["h3_switch"], 3)
    second = Controller(parse_topology(fabric["topology"]), schema, config)
    assert second.find("vm2").location == PortRef("s2", 2)       # as the file declares
    with ControllerThread(second) as ct:
        assert synced(ct)
        assert second.find("vm2").location == PortRef(fabric["h3_switch"], 3)
        assert {n: s.status().writes for n, s in second.sessions.items()} == {"s1": 0, "s2": 0}
        assert udp_exchange(fabric["vm1"], fabric["vm2"], VM2_IP)


@pytest.mark.parametrize("fabric", ["campus-on-ovs", "campus"], indirect=True)
def test_a_migration_finished_while_the_controller_was_away_converges(
        fabric: dict[str, str], schema: P4Schema, build_paths: BuildPaths) -> None:
    """Announced, then the controller dies; the VM lands at h3 and its RARP reaches no
    one. The next controller sees vm2 delivered both ways, asks (ARP probes out of both
    ports), and vm2's answer from h3 places it there within a second of the sync."""
    config = build_paths.json.read_bytes()
    first = Controller(parse_topology(fabric["topology"]), schema, config)
    with ControllerThread(first) as ct:
        assert synced(ct)
        asyncio.run_coroutine_threadsafe(first.announce("vm2", "h3"), ct.loop).result(10)
    move_vm2_to_h3(fabric)                                 # its RARP: nobody listens
    second = Controller(parse_topology(fabric["topology"]), schema, config)
    with ControllerThread(second) as ct:
        assert synced(ct)
        start = time.monotonic()
        while (second.find("vm2").location != PortRef(fabric["h3_switch"], 3)
               and time.monotonic() < start + 5):
            time.sleep(0.01)
        took = time.monotonic() - start
        assert second.find("vm2").location == PortRef(fabric["h3_switch"], 3)
        print(f"\nplaced by its answer {took * 1e3:.0f} ms after the sync")
        assert udp_exchange(fabric["vm1"], fabric["vm2"], VM2_IP)
