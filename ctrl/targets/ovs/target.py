"""The Open vSwitch target in one piece: daemons, bridges, the P4Runtime server.

`run_target()` is the CLI's (blocking, asyncio); `ThreadedTarget` runs the same
server on an event loop of its own thread, for tests and benchmarks. Bridges in
one network namespace share one ovs-vswitchd; each namespace gets its own (so one
server can serve two sites, each with its own kernel for its underlay addresses).
A bridge with GRE (the default) has a flow-based GRE port, and OVS takes only one
such port per ovs-vswitchd: the other bridges of that namespace go without.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from ctrl.p4rt.schema import P4Schema
from ctrl.targets.ovs.daemon import OvsDaemons
from ctrl.targets.ovs.device import Device
from ctrl.targets.ovs.errors import OvsError
from ctrl.targets.ovs.ovsdb import OvsBridge
from ctrl.targets.ovs.server import serve
from ctrl.targets.ovs.underlay import Underlay


@dataclass(frozen=True, slots=True)
class BridgeSpec:
    bridge: str
    device_id: int
    ports: Mapping[int, str] = None  # type: ignore[assignment]  # P4 port -> interface
    netns: str | None = None  # where its ovs-vswitchd and its ports' interfaces are
    gre: bool = True  # a GRE port and an underlay bridge (at most one per ovs-vswitchd)


def setup_bridges(daemons: OvsDaemons, specs: Sequence[BridgeSpec]) -> dict[int, Device]:
    with_gre = [s.bridge for s in specs if s.gre]
    if len(with_gre) > 1:
        raise OvsError(f"bridges {', '.join(with_gre)}: OVS takes one flow-based GRE port "
                       "per ovs-vswitchd; give the others gre=False or a netns of their own")
    devices = {}
    for spec in specs:
        br = OvsBridge(daemons, spec.bridge)
        br.create()
        for port, ifname in (spec.ports or {}).items():
            br.add_port(ifname, port)
        underlay = Underlay.create(daemons, br) if spec.gre else None
        devices[spec.device_id] = Device(spec.device_id, spec.bridge,
                                         daemons.mgmt_socket(spec.bridge), daemons.vswitchd_ctl,
                                         underlay)
    return devices


@contextlib.contextmanager
def running(rundir: Path, specs: Sequence[BridgeSpec]) -> Iterator[dict[int, Device]]:
    """Our own OVS daemons under `rundir` (one ovs-vswitchd per network namespace, the
    root's in `rundir`, another's in `rundir/NETNS`) and the bridges; stopped on exit."""
    by_ns: dict[str | None, list[BridgeSpec]] = {}
    for spec in specs:
        by_ns.setdefault(spec.netns, []).append(spec)
    devices: dict[int, Device] = {}
    with contextlib.ExitStack() as stack:
        for ns, group in by_ns.items():
            daemons = OvsDaemons(rundir / ns if ns else rundir, ns)
            daemons.start()
            stack.callback(daemons.stop)
            devices |= setup_bridges(daemons, group)
        yield devices


class ThreadedTarget:
    """A P4Runtime server for `devices` on its own event loop thread."""

    def __init__(self, devices: dict[int, Device], reference: P4Schema,
                 address: str = "127.0.0.1:0", fast_writes: bool = True,
                 credentials: grpc.ServerCredentials | None = None) -> None:
        self.devices = devices
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="ovs-p4runtime")
        self._thread.start()
        self._server: grpc.aio.Server | None = None
        self._server, port = self._call(serve(devices, reference, address,
                                                 fast_writes, credentials))
        self.address = f"{address.rsplit(':', 1)[0]}:{port}"

    def _call(self, coro: Any, timeout: float = 30.0) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout)

    def close(self) -> None:
        try:
            if self._server is not None:
                self._call(self._server.stop(0.5))
            for dev in self.devices.values():
                self._call(dev.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()


@contextlib.contextmanager
def serving(rundir: Path, specs: Sequence[BridgeSpec], reference: P4Schema,
            fast_writes: bool = True, credentials: grpc.ServerCredentials | None = None
            ) -> Iterator[ThreadedTarget]:
    """Our own OVS daemons under `rundir`, the bridges, and a P4Runtime server in a thread;
    all of it stopped and removed on exit. `fast_writes` False: Writes on protobuf only;
    `credentials`: TLS."""
    with running(rundir, specs) as devices:
        target = ThreadedTarget(devices, reference, fast_writes=fast_writes,
                                credentials=credentials)
        try:
            yield target
        finally:
            target.close()


async def run_target(rundir: Path, specs: Sequence[BridgeSpec], reference: P4Schema,
                     address: str, credentials: grpc.ServerCredentials | None = None) -> None:
    # The set-up and tear-down block (ovs-vsctl, netlink) and pyroute2's blocking calls
    # refuse to run inside a running event loop: both go to a worker thread.
    with contextlib.ExitStack() as stack:
        devices = await asyncio.to_thread(stack.enter_context, running(rundir, specs))
        try:
            server, _ = await serve(devices, reference, address, credentials=credentials)
            try:
                await server.wait_for_termination()
            finally:
                await server.stop(1)
                for dev in devices.values():
                    await dev.close()
        finally:
            await asyncio.to_thread(stack.close)
