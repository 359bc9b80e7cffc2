"""The controller on real switches when something fails: Ctrl-C to `ctrl serve`, a link
cut under traffic (LLDP finds it, traffic reroutes through the third switch of a triangle,
and back), a switch that cannot be reached. Needs root, and simple_switch_grpc or Open
vSwitch (tests/control/test_runner_live.py: migrations)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import pytest

from ctrl.control.runner import Controller
from ctrl.control.topology import parse_topology
from ctrl.p4rt.build import BuildPaths
from ctrl.p4rt.schema import P4Schema
from ctrl.platform import netns
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
    needs_bmv2,
)
from tests.packet.ovs_target import ovs_available
from tests.traffic import udp_exchange

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and veth pairs"),
]


@needs_bmv2
def test_ctrl_serve_syncs_and_stops_cleanly_on_ctrl_c(tmp_path: Path,
                                                      build_paths: BuildPaths) -> None:
    import signal
    import subprocess
    import sys

    sw = Bmv2Switch({}, log_file=tmp_path / "s1.log")
    sw.start()
    try:
        topo = tmp_path / "one.yaml"
        topo.write_text(f'switches:\n  s1: {{device_id: 1, grpc_addr: "{sw.grpc_addr}"}}\n')
        from ctrl.targets.bmv2 import free_tcp_port

        api = f"127.0.0.1:{free_tcp_port()}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "ctrl.cli", "-v", "serve", "--topology", str(topo),
             "--api", api],
            cwd=build_paths.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "all 1 switches in sync" in line:
                break
        assert any("in sync" in line for line in lines), "".join(lines)

        def ctrl(*argv: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "ctrl.cli", *argv, "--api",
                                   f"http://{api}"], cwd=build_paths.root, capture_output=True,
                                  text=True, check=False, timeout=30)

        shown = ctrl("switches")
        assert shown.returncode == 0 and "s1" in shown.stdout and "True" in shown.stdout
        bad = ctrl("migrate", "vm9", "--to", "h1")
        assert bad.returncode == 2 and "404: no VM 'vm9'" in bad.stderr
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, "".join(lines) + out
        assert "stopped: 0 hosts learned" in out
    finally:
        sw.stop()


TRIANGLE = """\
switches:
  s1: {{device_id: {dev1}, grpc_addr: "{addr1}"}}
  s2: {{device_id: {dev2}, grpc_addr: "{addr2}"}}
  s3: {{device_id: {dev3}, grpc_addr: "{addr3}"}}
links:
  - [s1:1, s2:1]
  - [s2:2, s3:1]
  - [s3:2, s1:2]
hypervisors:
  h1: {{switch: s1, port: 3}}
  h2: {{switch: s2, port: 3}}
"""


@pytest.mark.parametrize("target", ["bmv2", "ovs"])
def test_link_down_is_found_by_lldp_and_traffic_reroutes(
        tmp_path: Path, schema: P4Schema, build_paths: BuildPaths, target: str) -> None:
    if target == "bmv2" and find_simple_switch_grpc() is None:
        pytest.skip("bmv2 simple_switch_grpc is not on PATH")
    if target == "ovs" and (why := ovs_available()) is not None:
        pytest.skip(why)
    tag = f"{os.getpid() % 10000}"
    vm1, vm2 = f"tvm1{tag}", f"tvm2{tag}"
    sw_ns = f"tsw{tag}" if target == "ovs" else None  # OVS in a namespace of its own
    with contextlib.ExitStack() as stack:
        for ns in (vm1, vm2, *([sw_ns] if sw_ns else [])):
            netns.create_netns(ns)
            stack.callback(netns.remove_netns, ns)
        if target == "bmv2":
            # s1:1 -- s2:1 runs through a bridge, so the link can be cut without taking down
            # an interface bmv2 reads (bmv2 stops receiving on every port when one goes down).
            bridge = f"tbr{tag}"
            netns.add_bridge(bridge, forward_lldp=True)
            stack.callback(netns.delete_link, bridge)
            pairs = [(f"t{tag}a", f"t{tag}a2"), (f"t{tag}b", f"t{tag}b2")]
        else:  # OVS takes a link that goes down: the cut is s1:1's veth going down
            pairs = [(f"t{tag}a", f"t{tag}b")]
        pairs += [(f"t{tag}c", f"t{tag}d"), (f"t{tag}e", f"t{tag}f")]
        for a, b in pairs:
            netns.add_veth(a, b, ns=sw_ns)
            stack.callback(netns.delete_link, a, sw_ns)
        if target == "bmv2":
            netns.set_master(f"t{tag}a2", bridge)
            netns.set_master(f"t{tag}b2", bridge)
        netns.add_veth(f"t{tag}h1", "eth0", peer_ns=vm1, ns=sw_ns)
        stack.callback(netns.delete_link, f"t{tag}h1", sw_ns)
        netns.add_veth(f"t{tag}h2", "eth0", peer_ns=vm2, ns=sw_ns)
        stack.callback(netns.delete_link, f"t{tag}h2", sw_ns)
        configure_vm(vm1, "eth0", VM1_MAC, VM1_IP)
        configure_vm(vm2, "eth0", VM2_MAC, VM2_IP)
        ports = [{1: f"t{tag}a", 2: f"t{tag}f", 3: f"t{tag}h1"},
                 {1: f"t{tag}b", 2: f"t{tag}c", 3: f"t{tag}h2"},
                 {1: f"t{tag}d", 2: f"t{tag}e"}]
        if target == "bmv2":
            switches = [Bmv2Switch(p, log_file=tmp_path / f"{i}") for i, p in enumerate(ports)]
            for sw in switches:
                sw.start()
                stack.callback(sw.stop)
            addrs = [sw.grpc_addr for sw in switches]
            devs = [1, 1, 1]

            def cut(down: bool) -> None:
                netns.set_master(f"t{tag}a2", None if down else bridge)
        else:
            for p in ports:
                for ifname in p.values():
                    netns.set_offloads(ifname, sw_ns, tx=False)
            ovs = stack.enter_context(serving(tmp_path / "ovs", [
                BridgeSpec(f"tb{i}{tag}", i + 1, p, sw_ns, gre=False)
                for i, p in enumerate(ports)], schema))
            addrs, devs = [ovs.address] * 3, [1, 2, 3]

            def cut(down: bool) -> None:
                netns.link_set(f"t{tag}a", sw_ns, state="down" if down else "up")
        text = TRIANGLE.format(addr1=addrs[0], addr2=addrs[1], addr3=addrs[2],
                               dev1=devs[0], dev2=devs[1], dev3=devs[2]) + VMS
        controller = Controller(parse_topology(text, "triangle"), schema,
                                build_paths.json.read_bytes(), lldp_interval=0.2)
        with ControllerThread(controller) as ct:
            assert asyncio.run_coroutine_threadsafe(
                asyncio.wait_for(controller.synced.wait(), 30), ct.loop).result(35) is True
            assert udp_exchange(vm1, vm2, VM2_IP)
            deadline = time.monotonic() + 5
            while len(controller.core.links.seen) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(controller.core.links.seen) == 3  # every link confirmed by LLDP

            cut(True)  # the direct link s1-s2 fails
            cut_at = time.monotonic()
            deadline = cut_at + 10
            while not controller.planner.links_down and time.monotonic() < deadline:
                time.sleep(0.02)
            assert [str(x.a) for x in controller.planner.links_down] == ["s1:1"]
            assert udp_exchange(vm1, vm2, VM2_IP)  # now through s3
            print(f"\nlink down noticed after {(time.monotonic() - cut_at) * 1e3:.0f} ms")

            cut(False)
            deadline = time.monotonic() + 10
            while controller.planner.links_down and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not controller.planner.links_down  # back on the direct link
            assert udp_exchange(vm1, vm2, VM2_IP)


@needs_bmv2
def test_an_unreachable_switch_holds_up_no_other(tmp_path: Path, schema: P4Schema,
                                                 build_paths: BuildPaths) -> None:
    sw = Bmv2Switch({}, log_file=tmp_path / "s1.log")
    sw.start()
    try:
        text = (f'switches:\n  s1: {{device_id: 1, grpc_addr: "{sw.grpc_addr}"}}\n'
                '  s2: {device_id: 1, grpc_addr: "127.0.0.1:1"}\n'
                'links:\n  - [s1:1, s2:1]\n')
        controller = Controller(parse_topology(text, "half"), schema,
                                build_paths.json.read_bytes())
        with ControllerThread(controller):
            deadline = time.monotonic() + 20
            s1 = controller.sessions["s1"]
            while not s1.status().in_sync and time.monotonic() < deadline:
                time.sleep(0.05)
            assert s1.status().in_sync and s1.entries  # s1 synced on its own
            assert not controller.sessions["s2"].status().connected
            assert not controller.synced.is_set() and not controller.in_sync("s2")
    finally:
        sw.stop()
