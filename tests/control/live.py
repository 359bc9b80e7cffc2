"""What the live tests of the controller share (tests/control/test_runner_live*.py): the
VMs' addresses, a VM's interface in its namespace, the controller on a thread of its own."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ctrl.control.runner import Controller
from ctrl.platform import netns
from ctrl.targets.bmv2 import find_simple_switch_grpc

needs_bmv2 = pytest.mark.skipif(find_simple_switch_grpc() is None,
                                reason="bmv2 simple_switch_grpc is not on PATH")

VM1_MAC, VM2_MAC = "02:00:00:00:01:01", "02:00:00:00:01:02"
VM1_IP, VM2_IP = "10.0.0.1", "10.0.0.2"

VMS = f"""\
vnets:
  blue: {{id: 10, gateway_mac: "02:00:00:00:00:01"}}
vms:
  vm1: {{vnet: blue, mac: "{VM1_MAC}", ip: {VM1_IP}, hypervisor: h1}}
  vm2: {{vnet: blue, mac: "{VM2_MAC}", ip: {VM2_IP}, hypervisor: h2}}
"""
# Outer Ethernet is not counted: outer IPv4 (20) + GRE with key (8) + inner Ethernet (14).
GRE_OVERHEAD = 42
# A full-sized VM frame still fits the underlay's 1500 once wrapped. (Measured on OVS: 200 KB
# over TCP through the tunnel times out with VM MTU 1500, and passes with this.)
VM_MTU = 1500 - GRE_OVERHEAD


def configure_vm(ns: str, ifname: str, mac: str, ip: str) -> None:
    netns.link_set(ifname, ns, address=mac, state="up", mtu=VM_MTU)
    netns.addr_add(ifname, ip, 24, ns)
    netns.link_set("lo", ns, state="up")
    netns.set_offloads(ifname, ns, tx=False)


def move_link(ifname: str, src_ns: str, dst_ns: str, new_name: str) -> None:
    netns.link_set(ifname, src_ns, state="down")
    netns.link_set(ifname, src_ns, net_ns_fd=dst_ns, ifname=new_name)




class ControllerThread:
    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="controller")

    def _run(self) -> None:
        self.loop.run_until_complete(self.controller.run(self.stop))

    def __enter__(self) -> ControllerThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(20)



def synced(ct: ControllerThread, timeout: float = 30) -> bool:
    return bool(asyncio.run_coroutine_threadsafe(
        asyncio.wait_for(ct.controller.synced.wait(), timeout), ct.loop).result(timeout + 5))

