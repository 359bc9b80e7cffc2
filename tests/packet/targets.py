"""Targets the packet tests run on: a switch with N ports wired to raw sockets in a namespace.

Each target owns everything it creates (namespace, veths, processes) and removes
it on close, in reverse order, even after a failure half-way.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ctrl import netns
from ctrl.bmv2 import Bmv2Switch
from ctrl.p4build import BuildPaths, project_root
from ctrl.p4schema import P4Schema
from tests.packet.dataplane import Dataplane
from tests.packet.syncswitch import SyncSwitch

PORTS = (1, 2, 3, 4, 5, 6)


@dataclass
class Target:
    name: str
    switch: SyncSwitch
    dataplane: Dataplane
    schema: P4Schema


def _names(tag: str) -> tuple[str, str, str]:
    uid = f"{os.getpid() % 100000}"
    return f"pt{tag}{uid}", f"p{tag}{uid}s", f"p{tag}{uid}t"


@contextlib.contextmanager
def bmv2_target(log_dir: Path) -> Iterator[Target]:
    paths = BuildPaths(project_root())
    schema = P4Schema.load(paths.p4info)
    ns, sw_prefix, test_prefix = _names("b")
    with contextlib.ExitStack() as stack:
        netns.create_netns(ns)
        stack.callback(netns.remove_netns, ns)
        for port in PORTS:
            netns.add_veth(f"{sw_prefix}{port}", f"{test_prefix}{port}", peer_ns=ns)
            stack.callback(netns.delete_link, f"{sw_prefix}{port}")
        bmv2 = Bmv2Switch({p: f"{sw_prefix}{p}" for p in PORTS},
                          log_file=log_dir / "simple_switch_grpc.log")
        bmv2.start()
        stack.callback(bmv2.stop)
        switch = SyncSwitch(bmv2.grpc_addr, bmv2.device_id)
        stack.callback(switch.close)
        switch.open()
        switch.set_pipeline(schema, paths.json.read_bytes())
        dataplane = Dataplane({p: netns.raw_socket(f"{test_prefix}{p}", ns) for p in PORTS})
        stack.callback(dataplane.close)
        yield Target("bmv2", switch, dataplane, schema)
