"""The packet tests' Open vSwitch target: mobility.p4 through our P4Runtime server on OVS.

ovs-vswitchd runs in a network namespace of its own: the underlay addresses the GRE
tests write become local addresses of that namespace, not of the host's, and another
userspace ovs-vswitchd on the host (it would want the same ovs-netdev device) is no
matter.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.p4rt.schema import P4Schema
from ctrl.platform import netns
from ctrl.targets.ovs import dpdk
from ctrl.targets.ovs.dpdk import DpdkConfig
from ctrl.targets.ovs.target import BridgeSpec, serving
from tests.packet.targets import Target, wired_target


def ovs_available() -> str | None:
    """None when OVS can run here, else why not."""
    for tool in ("ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovsdb-tool"):
        if shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
            return f"{tool} is not installed (Debian: openvswitch-switch)"
    return None


def dpdk_available() -> str | None:
    """None when OVS on DPDK's datapath can run here, else why not."""
    return ovs_available() or dpdk.unavailable()


def skip_without_ovs() -> None:
    """Skip the caller, saying why, where ovs-vswitchd cannot run (not root, no OVS)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run ovs-vswitchd")
    if (why := ovs_available()) is not None:
        pytest.skip(why)


@contextlib.contextmanager
def ovs_target(log_dir: Path, datapath: DpdkConfig | None = None) -> Iterator[Target]:
    """mobility.p4 on one bridge of the OVS target, on the plain netdev datapath or,
    with `datapath`, DPDK's."""
    def start(stack: contextlib.ExitStack, ports: dict[int, str], ns: str | None
              ) -> tuple[str, int]:
        for ifname in ports.values():
            netns.set_offloads(ifname, ns, tx=False)  # or TCP through OVS breaks
        spec = BridgeSpec(f"pbr{os.getpid() % 100000}", 1, ports, ns)
        schema = P4Schema.load(BuildPaths(project_root()).p4info)
        server = stack.enter_context(serving(log_dir / "ovs", [spec], schema,
                                             dpdk=datapath))
        return server.address, 1

    name, tag = ("ovs", "o") if datapath is None else ("ovs-dpdk", "d")
    with wired_target(name, tag, start, own_netns=True) as target:
        yield target


@contextlib.contextmanager
def one_bridge_server(log_dir: Path, schema: P4Schema, name: str,
                      credentials: grpc.ServerCredentials | None = None) -> Iterator[str]:
    """The address of the target serving one bridge `name` (device 1) from an ovs-vswitchd
    in a namespace of its own (over TLS with `credentials`); the caller is skipped, saying
    why, where OVS cannot run."""
    skip_without_ovs()
    uid = os.getpid() % 100000
    with netns.scratch_netns(f"{name}{uid}") as ns, serving(
            log_dir, [BridgeSpec(f"{name}{uid}", 1, netns=ns)], schema,
            credentials=credentials) as target:
        yield target.address
