"""GRE entries put underlay addresses into ovs-vswitchd's namespace and routes into OVS;
deleting the entries, and closing the target, takes exactly those away again."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from ctrl.p4rt.build import BuildPaths
from ctrl.p4rt.entity import TableEntry, delete, insert
from ctrl.p4rt.schema import P4Schema
from ctrl.platform import netns
from ctrl.targets.ovs import unixctl
from ctrl.targets.ovs.target import BridgeSpec, ThreadedTarget, running
from tests.packet.ovs_target import ovs_available
from tests.packet.syncswitch import SyncSwitch

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and OVS"),
    pytest.mark.skipif(ovs_available() is not None, reason=str(ovs_available())),
]

ENTRIES = [
    TableEntry("gre_termination", {"ipv4_dst": "192.0.2.1"}, "gre_termination.terminate"),
    TableEntry("tunnel_encap", {"tunnel_id": 7}, "tunnel_encap.encap_gre",
               {"src_addr": "198.51.100.1", "dst_addr": "192.0.2.2"}),
]


def ip(ns: str, *args: str) -> str:
    """`ip -n NS ARGS`"""
    return subprocess.run(["ip", "-n", ns, *args], capture_output=True, text=True,
                          check=True).stdout


def snapshot(ns: str) -> tuple[str, str]:
    return ip(ns, "-4", "-o", "addr", "show"), ip(ns, "route", "show", "table", "all")


def user_routes(ctl: Path) -> list[str]:
    text = asyncio.run(unixctl.call(ctl, "ovs/route/show"))
    return [line for line in text.splitlines() if line.startswith("User:")]


def test_underlay_state_follows_entries_and_the_namespace_is_left_as_found(
        tmp_path: Path, schema: P4Schema, build_paths: BuildPaths) -> None:
    uid = os.getpid() % 100000
    bridge = f"ulb{uid}"
    with netns.scratch_netns(f"uln{uid}") as ns:
        # Something of the namespace's own, which must stay as it is.
        netns.add_veth(f"ulv{uid}", f"ulw{uid}", ns=ns)
        netns.addr_add(f"ulv{uid}", "10.99.0.1", 24, ns)
        before = snapshot(ns)
        with running(tmp_path, [BridgeSpec(bridge, 1, netns=ns)]) as devices:
            ctl = tmp_path / ns / "ovs-vswitchd.ctl"
            target = ThreadedTarget(devices, schema)
            try:
                sw = SyncSwitch(target.address)
                try:
                    sw.open()
                    sw.set_pipeline(schema, build_paths.json.read_bytes())
                    sw.write([insert(e) for e in ENTRIES])
                    held = ip(ns, "-4", "-o", "addr", "show", "dev", f"{bridge}-u")
                    assert "192.0.2.1/32" in held and "198.51.100.1/32" in held
                    assert [r.split()[1] for r in user_routes(ctl)] == ["192.0.2.2/32"]
                    sw.write([delete(e) for e in ENTRIES])
                    assert snapshot(ns) == before
                    assert user_routes(ctl) == []
                    sw.write([insert(e) for e in ENTRIES])  # left in place for close()
                finally:
                    sw.close()
            finally:
                target.close()
            # The bridges are still there; what the entries put in place is not.
            assert snapshot(ns) == before
            assert user_routes(ctl) == []
