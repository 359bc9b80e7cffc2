"""Targets the packet tests run on: a switch with N ports wired to raw sockets in a namespace.

Each target owns everything it creates (namespace, veths, processes) and removes
it on close, in reverse order, even after a failure half-way. `wired_target`
does what all targets share; each target only starts its switch in between.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.p4rt.schema import P4Schema
from ctrl.platform import netns
from ctrl.targets.bmv2 import Bmv2Switch
from tests.packet.dataplane import Dataplane
from tests.packet.syncswitch import SyncSwitch

PORTS = (1, 2, 3, 4, 5, 6)


@dataclass
class Target:
    name: str
    switch: SyncSwitch
    dataplane: Dataplane
    schema: P4Schema


# start(stack, {port: switch-side interface}, the switch's namespace) -> (gRPC address,
# device id)
StartSwitch = Callable[[contextlib.ExitStack, dict[int, str], str | None], tuple[str, int]]


@contextlib.contextmanager
def wired_target(name: str, tag: str, start: StartSwitch, own_netns: bool = False
                 ) -> Iterator[Target]:
    """Veths from a switch (in a namespace of its own with `own_netns`) to a namespace of
    raw sockets, a P4Runtime client, the pipeline."""
    paths = BuildPaths(project_root())
    schema = P4Schema.load(paths.p4info)
    uid = f"{os.getpid() % 100000}"
    ns, sw_prefix, test_prefix = f"pt{tag}{uid}", f"p{tag}{uid}s", f"p{tag}{uid}t"
    sw_ns = f"pw{tag}{uid}" if own_netns else None
    with contextlib.ExitStack() as stack:
        for space in (ns, sw_ns):
            if space:
                netns.create_netns(space)
                stack.callback(netns.remove_netns, space)
        for port in PORTS:
            netns.add_veth(f"{sw_prefix}{port}", f"{test_prefix}{port}", peer_ns=ns, ns=sw_ns)
            stack.callback(netns.delete_link, f"{sw_prefix}{port}", sw_ns)
        address, device_id = start(stack, {p: f"{sw_prefix}{p}" for p in PORTS}, sw_ns)
        switch = SyncSwitch(address, device_id)
        stack.callback(switch.close)
        switch.open()
        switch.set_pipeline(schema, paths.json.read_bytes())
        dataplane = Dataplane({p: netns.raw_socket(f"{test_prefix}{p}", ns) for p in PORTS})
        stack.callback(dataplane.close)
        yield Target(name, switch, dataplane, schema)


@contextlib.contextmanager
def bmv2_target(log_dir: Path) -> Iterator[Target]:
    def start(stack: contextlib.ExitStack, ports: dict[int, str], _ns: str | None
              ) -> tuple[str, int]:
        bmv2 = Bmv2Switch(ports, log_file=log_dir / "simple_switch_grpc.log")
        bmv2.start()
        stack.callback(bmv2.stop)
        return bmv2.grpc_addr, bmv2.device_id

    with wired_target("bmv2", "b", start) as target:
        yield target
