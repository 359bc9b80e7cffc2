"""The Open vSwitch target's data plane: how soon a written entry forwards, and how fast.

- Write to first packet: frames for a MAC with no entry stream into port 1 (one
  every ~50 us); a Write inserts its bridging entry toward port 2; the time from
  the Write's reply to the first frame out of port 2 (negative: the frame came
  before the reply, which is sent only once the flows are live), and from the
  Write's start. The OVS target on both datapaths (plain netdev ports, DPDK ports
  where openvswitch-switch-dpdk is installed), and bmv2 where installed, are measured
  the same way in the same run.
- TCP throughput between two namespaces through one bridge on the same veths:
  a plain OVS bridge (`actions=NORMAL`), then the same veths under mobility.p4's
  flows written over P4Runtime, in turn, three times. Goal (issue 3): ours >= 90 %
  of the plain one. (The datapath holds one megaflow per direction either way.)

Medians; nothing about time is asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.conftest import RATIOS, Progress
from ctrl.p4rt.build import BuildPaths
from ctrl.p4rt.client import P4Client
from ctrl.p4rt.entity import TableEntry, delete, insert
from ctrl.p4rt.schema import P4Schema
from ctrl.p4rt.values import int_to_mac
from ctrl.platform import netns
from ctrl.targets.bmv2 import Bmv2Switch, find_simple_switch_grpc
from ctrl.targets.ovs.daemon import OvsDaemons, _tool
from ctrl.targets.ovs.dpdk import DpdkConfig
from ctrl.targets.ovs.ovsdb import OvsBridge, Transaction
from ctrl.targets.ovs.target import BridgeSpec, serving
from tests.packet.ovs_target import dpdk_available, ovs_available

ROUNDS = 15
VNET = 10
MAC_A, MAC_B = 0x020000000a01, 0x020000000a02
IP_A, IP_B = "10.97.0.1", "10.97.0.2"
TCP_SECONDS = 2.0
LATENCY = "time from a Write to the first packet its entry forwards (median of rounds)"
THROUGHPUT = (f"TCP through one bridge, same veths, {TCP_SECONDS:.0f} s a round, plain and ours "
              "in turn (median of 3)")
_TCP: dict[str, float] = {}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces")


@dataclass(frozen=True)
class Wires:
    tag: str
    ports: dict[int, str]      # switch port -> the switch's end
    switch_ns: str | None      # where the switch's ends are (OVS: its ovs-vswitchd too)
    ns_a: str                  # host a behind port 1, host b behind port 2
    ns_b: str


@contextlib.contextmanager
def wired(switch_ns: bool) -> Iterator[Wires]:
    """Two hosts in namespaces, their eth0 veths to switch ports 1 and 2; the switch's ends
    in a namespace of their own (OVS: no other ovs-vswitchd is in the way) or the root one
    (bmv2, whose gRPC server must be reachable from here)."""
    tag = f"{os.getpid() % 10000}"
    hosts = [(f"bda{tag}", MAC_A, IP_A, MAC_B, IP_B), (f"bdb{tag}", MAC_B, IP_B, MAC_A, IP_A)]
    sw_ns = f"bds{tag}" if switch_ns else None
    with contextlib.ExitStack() as stack:
        if sw_ns:
            netns.create_netns(sw_ns)
            stack.callback(netns.remove_netns, sw_ns)
        ports = {}
        for port, (ns, mac, ip, peer_mac, peer_ip) in enumerate(hosts, start=1):
            netns.create_netns(ns)
            stack.callback(netns.remove_netns, ns)
            ports[port] = f"bd{tag}s{port}"
            netns.add_veth(ports[port], "eth0", peer_ns=ns, ns=sw_ns)
            stack.callback(netns.delete_link, ports[port], sw_ns)
            netns.set_offloads(ports[port], sw_ns, tx=False)
            netns.set_offloads("eth0", ns, tx=False)
            with netns.Links(ns) as links:
                links.set("eth0", address=int_to_mac(mac))
                links.addr_add("eth0", ip, 24)
                links.neigh("eth0", peer_ip, int_to_mac(peer_mac))
        yield Wires(tag, ports, sw_ns, hosts[0][0], hosts[1][0])


def _frame(dst: int, src: int) -> bytes:
    return dst.to_bytes(6, "big") + src.to_bytes(6, "big") + b"\x88\xb5" + bytes(46)


def _base() -> list[TableEntry]:
    return [TableEntry("ingress_port", {"ingress_port": p}, "ingress_port.set_access",
                       {"vnet_id": VNET}) for p in (1, 2)]


def _stream(tx: socket.socket, frame: bytes, stop: threading.Event) -> None:
    """`frame` out of `tx` every ~50 us until `stop`."""
    while not stop.is_set():
        tx.send(frame)
        end = time.perf_counter() + 50e-6
        while time.perf_counter() < end:
            pass


def _first_arrival(rx: socket.socket, frame: bytes, stop: threading.Event,
                   seen: list[float]) -> None:
    rx.settimeout(0.05)
    while not stop.is_set() and not seen:
        try:
            got = rx.recv(2048)
        except TimeoutError:
            continue
        if got[:6] == frame[:6]:
            seen.append(time.perf_counter())


async def _first_packet_rounds(address: str, device_id: int, schema: P4Schema, config: bytes,
                               ns_a: str, ns_b: str, progress: Progress
                               ) -> tuple[list[float], list[float]]:
    after_reply, after_start = [], []
    async with P4Client(address, device_id) as client:
        await client.set_pipeline(schema, config)
        await client.write([insert(e) for e in _base()])
        tx = netns.raw_socket("eth0", ns_a)
        rx = netns.raw_socket("eth0", ns_b)
        with tx, rx:
            for r in range(ROUNDS):
                progress.step("a Write, then its first packet: round", r + 1, ROUNDS)
                dst = 0x020000001000 + r
                frame = _frame(dst, MAC_A)
                stop = threading.Event()
                seen: list[float] = []
                threads = [threading.Thread(target=_stream, args=(tx, frame, stop), daemon=True),
                           threading.Thread(target=_first_arrival, args=(rx, frame, stop, seen),
                                            daemon=True)]
                for t in threads:
                    t.start()
                await asyncio.sleep(0.05)  # the stream runs, dropped: no entry yet
                entry = TableEntry("bridging", {"vnet_id": VNET, "eth_dst": dst},
                                   "bridging.forward", {"port": 2})
                start = time.perf_counter()
                await client.write([insert(entry)])
                reply = time.perf_counter()
                deadline = reply + 2.0
                while not seen and time.perf_counter() < deadline:
                    await asyncio.sleep(0.001)
                stop.set()
                for t in threads:
                    t.join(2)
                if seen:
                    after_reply.append(seen[0] - reply)
                    after_start.append(seen[0] - start)
                await client.write([delete(entry)])
    return after_reply, after_start


def _latency_line(target: str, got: tuple[list[float], list[float]]) -> str:
    reply, start = got
    if not reply:
        return f"  {target:<26} no frame forwarded in {ROUNDS} rounds"
    return (f"  {target:<26} after the reply {statistics.median(reply) * 1e3:+7.2f} ms, "
            f"after the Write was sent {statistics.median(start) * 1e3:6.2f} ms "
            f"({len(reply)}/{ROUNDS} rounds)")


@pytest.mark.parametrize("datapath", ["netdev", "dpdk"])
def test_write_to_first_packet_ovs(benchmark: Any, tmp_path: Path, schema: P4Schema,
                                   build_paths: BuildPaths, datapath: str,
                                   progress: Progress) -> None:
    why = dpdk_available() if datapath == "dpdk" else ovs_available()
    if why is not None:
        pytest.skip(why)
    dpdk = DpdkConfig() if datapath == "dpdk" else None
    with wired(switch_ns=True) as wires, serving(tmp_path / "ovs", [BridgeSpec(
            f"bdo{wires.tag}", 1, wires.ports, wires.switch_ns, gre=False)], schema,
            dpdk=dpdk) as target:
        got = benchmark.pedantic(lambda: asyncio.run(_first_packet_rounds(
            target.address, 1, schema, build_paths.json.read_bytes(), wires.ns_a,
            wires.ns_b, progress)), rounds=1, iterations=1)
    name = "Open vSwitch target" + (", DPDK" if dpdk else "")
    RATIOS.setdefault(LATENCY, []).append(_latency_line(name, got))


def test_write_to_first_packet_bmv2(benchmark: Any, tmp_path: Path, schema: P4Schema,
                                    build_paths: BuildPaths, progress: Progress) -> None:
    if find_simple_switch_grpc() is None:
        pytest.skip("bmv2 simple_switch_grpc is not on PATH")
    with wired(switch_ns=False) as wires:
        sw = Bmv2Switch(wires.ports, log_file=tmp_path / "bmv2.log")
        sw.start()
        try:
            got = benchmark.pedantic(lambda: asyncio.run(_first_packet_rounds(
                sw.grpc_addr, sw.device_id, schema, build_paths.json.read_bytes(),
                wires.ns_a, wires.ns_b, progress)), rounds=1, iterations=1)
        finally:
            sw.stop()
    RATIOS.setdefault(LATENCY, []).append(_latency_line("bmv2 simple_switch_grpc", got))


def _tcp_rate(ns_a: str, ns_b: str, seconds: float = TCP_SECONDS) -> float:
    """Bytes per second of one TCP stream from a to b."""
    with netns.in_netns(ns_b):
        server = socket.create_server((IP_B, 0))
    port = server.getsockname()[1]
    got = [0]

    def sink() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(1 << 16):
                got[0] += len(data)

    t = threading.Thread(target=sink, daemon=True)
    t.start()
    with netns.in_netns(ns_a):
        client = socket.create_connection((IP_B, port), timeout=10)
    block = bytes(1 << 16)
    with server, client:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            client.sendall(block)
        client.shutdown(socket.SHUT_WR)
        t.join(10)
        took = time.perf_counter() - start
    return got[0] / took


def _record_tcp(name: str, rates: list[float]) -> None:
    _TCP[name] = statistics.median(rates)
    plain = _TCP.get("plain OVS bridge (NORMAL)")
    RATIOS[THROUGHPUT] = [
        f"  {n:<32} {r * 8 / 1e6:>9,.0f} Mbit/s" + (
            f"   {r / plain:.0%} of the plain bridge" if plain and n != "plain OVS bridge "
            "(NORMAL)" else "") for n, r in _TCP.items()]


def test_tcp_through_a_plain_bridge_then_ours(benchmark: Any, tmp_path: Path,
                                              schema: P4Schema, build_paths: BuildPaths,
                                              progress: Progress) -> None:
    """Plain and ours in turn, three times (the machine's load drifts): medians of each."""
    if (why := ovs_available()) is not None:
        pytest.skip(why)
    plain: list[float] = []
    ours: list[float] = []

    def rounds() -> None:
        for i in range(3):
            progress.step(f"TCP for {TCP_SECONDS:g} s through a plain bridge, then ours: "
                          "round", i + 1, 3)
            plain.append(_plain_bridge_rates(wires, tmp_path / f"plain{i}"))
            with serving(tmp_path / f"ours{i}", [BridgeSpec(
                    f"bdo{wires.tag}", 1, wires.ports, wires.switch_ns, gre=False)],
                         schema) as target:
                asyncio.run(_program(target.address, schema, build_paths.json.read_bytes()))
                ours.append(_tcp_rate(wires.ns_a, wires.ns_b))

    with wired(switch_ns=True) as wires:
        benchmark.pedantic(rounds, rounds=1, iterations=1)
    _record_tcp("plain OVS bridge (NORMAL)", plain)
    _record_tcp("mobility.p4 on the OVS target", ours)


def _plain_bridge_rates(wires: Wires, rundir: Path) -> float:
    """`ovs-vsctl add-br` with the same veths and one flow, `actions=NORMAL`."""
    with plain_bridge(wires, rundir):
        return _tcp_rate(wires.ns_a, wires.ns_b)


@contextlib.contextmanager
def plain_bridge(wires: Wires, rundir: Path, dpdk: DpdkConfig | None = None
                 ) -> Iterator[OvsDaemons]:
    """`ovs-vsctl add-br` on our own daemons with the same veths as ports (DPDK ports with
    `dpdk`) and one flow, `actions=NORMAL`; all of it gone afterwards."""
    daemons = OvsDaemons(rundir, wires.switch_ns, dpdk)
    daemons.start()
    try:
        plain = OvsBridge(daemons, f"bdp{wires.tag}")
        tx = Transaction(daemons)
        tx.add_bridge(plain.name)
        for p, ifname in wires.ports.items():
            kind, options = (None, []) if dpdk is None else dpdk.port_options(ifname)
            tx.add_port(plain.name, ifname, p, kind=kind, options=options)
        tx.commit()
        subprocess.run([_tool("ovs-ofctl"), "-O", "OpenFlow13", "add-flow",
                        f"unix:{daemons.mgmt_socket(plain.name)}", "actions=NORMAL"],
                       check=True, capture_output=True, env=daemons.env)
        yield daemons
        plain.delete()
    finally:
        daemons.stop()


async def _program(address: str, schema: P4Schema, config: bytes) -> None:
    """mobility.p4 with both hosts' ports and bridging entries, over P4Runtime."""
    async with P4Client(address, 1) as client:
        await client.set_pipeline(schema, config)
        await client.write([insert(e) for e in _base()] + [
            insert(TableEntry("bridging", {"vnet_id": VNET, "eth_dst": mac},
                              "bridging.forward", {"port": port}))
            for mac, port in ((MAC_A, 1), (MAC_B, 2))])
