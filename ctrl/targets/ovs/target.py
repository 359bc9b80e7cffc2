"""The Open vSwitch target in one piece: daemons, bridges, the P4Runtime server.

`run_target()` is the CLI's (blocking, asyncio); `ThreadedTarget` runs the same
server on an event loop of its own thread, for tests and benchmarks. Bridges in
one network namespace share one ovs-vswitchd; each namespace gets its own (so one
server can serve two sites, each with its own kernel for its underlay addresses).
A bridge with GRE (the default) has a flow-based GRE port, and OVS takes only one
such port per ovs-vswitchd: the other bridges of that namespace go without.
With `dpdk` (ctrl.targets.ovs.dpdk), each ovs-vswitchd is the DPDK build and the
bridges' ports are DPDK ports on the same interfaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from ctrl.p4rt.schema import P4Schema
from ctrl.platform import netns
from ctrl.targets.ovs import dpdk
from ctrl.targets.ovs.daemon import OvsDaemons
from ctrl.targets.ovs.device import Device
from ctrl.targets.ovs.dpdk import DpdkConfig
from ctrl.targets.ovs.errors import OvsError
from ctrl.targets.ovs.journal import Journal
from ctrl.targets.ovs.ovsdb import OvsBridge, Transaction, bridge_uuids
from ctrl.targets.ovs.server import serve
from ctrl.targets.ovs.supervise import supervise
from ctrl.targets.ovs.underlay import Underlay, underlay_name
from ctrl.targets.ovs.vswitch import VSwitchSpec, configure

log = logging.getLogger(__name__)

LOCK = "ovs-target.lock"
GRACE_S = 0.2  # for RPCs under way when the server stops


@dataclass(frozen=True, slots=True)
class BridgeSpec:
    bridge: str
    device_id: int
    ports: Mapping[int, str] = None  # type: ignore[assignment]  # P4 port -> interface
    netns: str | None = None  # where its ovs-vswitchd and its ports' interfaces are
    gre: bool = True  # a GRE port and an underlay bridge (at most one per ovs-vswitchd)
    vswitches: tuple[VSwitchSpec, ...] = ()  # hypervisors' switches on some of its ports


def _wanted_ports(spec: BridgeSpec) -> set[str]:
    ports = set((spec.ports or {}).values()) | {v.p4_ifname for v in spec.vswitches}
    return ports | {f"{spec.bridge}-gre", f"{spec.bridge}-ul"} if spec.gre else ports


def setup_bridges(daemons: OvsDaemons, specs: Sequence[BridgeSpec]) -> dict[int, Device]:
    """Each bridge as `specs` say, whatever an earlier run left: the bridges, ports and
    GRE ports that are there already are kept (their flows forward on), those of no spec
    are deleted; each device journals what it holds beside the daemons."""
    with_gre = [s.bridge for s in specs if s.gre]
    if len(with_gre) > 1:
        raise OvsError(f"bridges {', '.join(with_gre)}: OVS takes one flow-based GRE port "
                       "per ovs-vswitchd; give the others gre=False or a netns of their own")
    wanted = {s.bridge for s in specs} | {underlay_name(s.bridge) for s in specs if s.gre}
    wanted |= {v.name for s in specs for v in s.vswitches}
    existing = daemons.list_bridges()
    tx = Transaction(daemons)
    stale = [b for b in existing if b not in wanted]
    for name in stale:
        tx.delete_bridge(name)
    if stale:
        log.info("%s: bridges of an earlier run deleted: %s", daemons.rundir, ", ".join(stale))
    for spec in specs:
        tx.add_bridge(spec.bridge)
        if spec.bridge in existing:
            extra = sorted(set(OvsBridge(daemons, spec.bridge).list_ports())
                           - _wanted_ports(spec))
            for ifname in extra:
                tx.delete_port(spec.bridge, ifname)
            if extra:
                log.info("bridge %s: ports of an earlier run deleted: %s", spec.bridge,
                         ", ".join(extra))
        for port, ifname in (spec.ports or {}).items():
            kind, options = (None, []) if daemons.dpdk is None else \
                daemons.dpdk.port_options(ifname)
            tx.add_port(spec.bridge, ifname, port, kind=kind, options=options)
        for vswitch in spec.vswitches:
            configure(tx, spec.bridge, vswitch, daemons.dpdk)
        if spec.gre:
            Underlay.configure(tx, spec.bridge)
    try:
        tx.commit()
    except OvsError as exc:
        if daemons.dpdk is None:
            raise
        raise OvsError(f"{exc} (ovs-vswitchd's log: {dpdk.log_errors(daemons)})") from exc
    uuids = bridge_uuids(daemons)
    devices = {}
    for spec in specs:
        log.info("bridge %s: ready (%s datapath)", spec.bridge,
                 "netdev" if daemons.dpdk is None else "DPDK")
        underlay = Underlay.made(daemons, spec.bridge) if spec.gre else None
        journal = Journal(daemons.rundir / f"p4rt-{spec.bridge}.journal", spec.bridge,
                          uuids[spec.bridge], spec.device_id)
        devices[spec.device_id] = Device(spec.device_id, spec.bridge,
                                         daemons.mgmt_socket(spec.bridge), daemons.vswitchd_ctl,
                                         underlay, journal=journal,
                                         answer_after_purge=daemons.dpdk is not None)
    return devices


class Fabric:
    """Our own OVS daemons under `rundir` (one ovs-vswitchd per network namespace, the
    root's in `rundir`, another's in `rundir/NETNS`) and the bridges of `specs`. One
    target at a time serves a run directory (a lock in it says which)."""

    def __init__(self, rundir: Path, specs: Sequence[BridgeSpec],
                 dpdk: DpdkConfig | None = None) -> None:
        self.rundir = Path(rundir)
        self.specs = list(specs)
        self.dpdk = dpdk
        self._daemons: list[OvsDaemons] = []
        self._lock: int | None = None

    def _take_lock(self) -> None:
        self.rundir.mkdir(parents=True, exist_ok=True)
        path = self.rundir / LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise OvsError(f"{self.rundir}: another ovs-target (pid {holder or '?'}) serves "
                           "this run directory") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock = fd

    def start(self) -> dict[int, Device]:
        """Daemons (adopted where they run), bridges and devices; undone on failure."""
        by_ns: dict[str | None, list[BridgeSpec]] = {}
        for spec in self.specs:
            by_ns.setdefault(spec.netns, []).append(spec)
        self._take_lock()
        devices: dict[int, Device] = {}
        try:
            for ns, group in by_ns.items():
                daemons = OvsDaemons(self.rundir / ns if ns else self.rundir, ns, self.dpdk)
                self._daemons.append(daemons)
                daemons.start()
                devices |= setup_bridges(daemons, group)
        except BaseException:
            self.stop(keep_adopted=True)  # what an earlier target left forwards on
            raise
        return devices

    @property
    def daemons(self) -> list[OvsDaemons]:
        """One per network namespace, as started."""
        return list(self._daemons)

    def stop(self, keep: bool = False, keep_adopted: bool = False) -> None:
        """Bridges deleted and daemons stopped; `keep`: all left running for the next;
        `keep_adopted`: only the daemons this one started are stopped."""
        # An ovs-vswitchd that died (and did not run again yet) deletes no bridge.
        dead = {d.netns for d in self._daemons if d.running("ovs-vswitchd") is None}
        try:
            for daemons in reversed(self._daemons):
                daemons.stop(keep=keep, keep_adopted=keep_adopted)
            if dead and not (keep or keep_adopted):
                self._remove_devices(dead)
        finally:
            self._daemons.clear()
            if self._lock is not None:
                os.close(self._lock)
                self._lock = None


    def _remove_devices(self, where: set[str | None]) -> None:
        """`ip link del` of the bridges' kernel devices still there in the network
        namespaces `where`: a netdev bridge's outlive ovs-vswitchd unless it deletes the
        bridge, and one that died (and was not running again yet) could not."""
        for spec in (s for s in self.specs if s.netns in where):
            for name in [spec.bridge, *([underlay_name(spec.bridge)] if spec.gre else [])]:
                try:
                    if netns.link_exists(name, spec.netns):
                        netns.delete_link(name, spec.netns)
                        log.info("bridge %s: its device removed (no ovs-vswitchd did)", name)
                except OSError as exc:   # NetnsError among them
                    log.warning("bridge %s: its device could not be removed: %s", name, exc)


@contextlib.contextmanager
def running(rundir: Path, specs: Sequence[BridgeSpec], dpdk: DpdkConfig | None = None
            ) -> Iterator[dict[int, Device]]:
    """A `Fabric` for the body, stopped (daemons and bridges gone) on exit."""
    fabric = Fabric(rundir, specs, dpdk)
    devices = fabric.start()
    try:
        yield devices
    finally:
        fabric.stop()


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
            fast_writes: bool = True, credentials: grpc.ServerCredentials | None = None,
            dpdk: DpdkConfig | None = None) -> Iterator[ThreadedTarget]:
    """Our own OVS daemons under `rundir`, the bridges, and a P4Runtime server in a thread;
    all of it stopped and removed on exit. `fast_writes` False: Writes on protobuf only;
    `credentials`: TLS; `dpdk`: on DPDK's datapath."""
    with running(rundir, specs, dpdk) as devices:
        target = ThreadedTarget(devices, reference, fast_writes=fast_writes,
                                credentials=credentials)
        try:
            yield target
        finally:
            target.close()


async def run_target(rundir: Path, specs: Sequence[BridgeSpec], reference: P4Schema,
                     address: str, credentials: grpc.ServerCredentials | None = None,
                     keep: bool = False, dpdk: DpdkConfig | None = None) -> None:
    """Serve until SIGINT or SIGTERM, then stop within 2 s: the gRPC server (open
    streams cancelled), the devices, then the bridges and daemons; `keep`: the daemons,
    bridges, flows, underlay and journals left for the next target (no packet lost);
    `credentials`: TLS; `dpdk`: on DPDK's datapath. Meanwhile each ovs-vswitchd that dies
    is started again and its devices' flows put back (ctrl/targets/ovs/supervise.py)."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    fabric = Fabric(rundir, specs, dpdk)
    # The set-up and tear-down block (ovs-vsctl, netlink) and pyroute2's blocking calls
    # refuse to run inside a running event loop: both go to a worker thread.
    devices: dict[int, Device] = {}
    try:
        devices = await asyncio.to_thread(fabric.start)
        server, _ = await serve(devices, reference, address, credentials=credentials)
        watch = [asyncio.create_task(s.run(), name=f"supervise {s.name}")
                 for s in supervise(fabric.daemons, list(devices.values()))]
        try:
            await stopping.wait()
            log.info("stopping%s", ": daemons and bridges left running" if keep else "")
        finally:
            for task in watch:   # first: no daemon is started again while they stop
                task.cancel()
            await asyncio.gather(*watch, return_exceptions=True)
            await server.stop(GRACE_S)
    finally:
        for dev in devices.values():
            await dev.close(keep)
        await asyncio.to_thread(fabric.stop, keep)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
