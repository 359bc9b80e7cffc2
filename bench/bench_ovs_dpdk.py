"""The Open vSwitch target on DPDK's datapath against its plain (netdev) datapath.

- TCP throughput and latency between two namespaces through one bridge on the same
  veths, in turn, three rounds: mobility.p4's flows (written over P4Runtime) on the
  plain datapath's kernel-socket ports, the same flows on DPDK ports (af_packet PMD),
  and a plain OVS-DPDK bridge (`actions=NORMAL`) on the same DPDK ports. Throughput:
  one TCP stream for 2 s; latency: the round trip of a UDP datagram echoed by the
  other namespace, 400 of them, one every ms. Goals (issue 19): ours on DPDK >= 1.8x
  ours on netdev ports, >= 90 % of the plain DPDK bridge.
- What the PMD's sleep costs: the DPDK target with our flows, pmd-maxsleep set to each
  value in turn (OVS takes it live): the round trip as above, TCP as above, and the CPU
  ovs-vswitchd takes while nothing flows (2 s of /proc/PID/stat).

Medians; nothing about time is asserted. The write-to-first-packet time on both
datapaths is in bench_ovs_dataplane.py, the migrations' interruption in
bench_lab_migrations.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.bench_ovs_dataplane import (
    IP_B,
    TCP_SECONDS,
    Wires,
    _program,
    _tcp_rate,
    plain_bridge,
    wired,
)
from bench.conftest import RATIOS
from ctrl.p4rt.build import BuildPaths
from ctrl.p4rt.schema import P4Schema
from ctrl.platform import netns
from ctrl.targets.ovs.daemon import OvsDaemons
from ctrl.targets.ovs.dpdk import DpdkConfig
from ctrl.targets.ovs.ovsdb import vsctl
from ctrl.targets.ovs.target import BridgeSpec, serving
from tests.packet.ovs_target import dpdk_available

ROUNDS = 5
PINGS = 400
SLEEPS_US = (0, 50, 200, 1000)
OURS_NETDEV = "mobility.p4, netdev (kernel-socket) ports"
OURS_DPDK = "mobility.p4, DPDK ports (af_packet)"
PLAIN_DPDK = "plain OVS-DPDK bridge (NORMAL)"
THROUGHPUT = (f"TCP and UDP round trip through one bridge, same veths, netdev against DPDK "
              f"({TCP_SECONDS:.0f} s of TCP, {PINGS} round trips; medians of {ROUNDS} rounds, "
              "in turn)")
SLEEP_TITLE = ("what the PMD's load-based sleep costs (pmd-maxsleep; the DPDK target with our "
               "flows)")

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces"),
              pytest.mark.skipif(dpdk_available() is not None, reason=str(dpdk_available()))]


def udp_round_trips(ns_a: str, ns_b: str, count: int = PINGS) -> list[float]:
    """Seconds each of `count` datagrams took from a to b and back (b echoes them), one
    every ms; a datagram lost is left out."""
    with netns.in_netns(ns_b):
        echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        echo.bind((IP_B, 0))
    with netns.in_netns(ns_a):
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stop = threading.Event()

    def serve() -> None:
        echo.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                data, peer = echo.recvfrom(64)
                echo.sendto(data, peer)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    out = []
    sender.settimeout(0.5)
    with echo, sender:
        for i in range(count):
            start = time.perf_counter()
            sender.sendto(i.to_bytes(4, "big"), echo.getsockname())
            with contextlib.suppress(TimeoutError):
                while int.from_bytes(sender.recv(64), "big") != i:
                    pass
                out.append(time.perf_counter() - start)
            time.sleep(max(0.0, start + 1e-3 - time.perf_counter()))
        stop.set()
        t.join(2)
    return out


def _measure(wires: Wires) -> tuple[float, float]:
    """(TCP bytes/s, median UDP round trip in s) between the two namespaces now."""
    rtt = statistics.median(udp_round_trips(wires.ns_a, wires.ns_b))
    return _tcp_rate(wires.ns_a, wires.ns_b), rtt


@contextlib.contextmanager
def _ours(wires: Wires, rundir: Path, schema: P4Schema, config: bytes,
          dpdk: DpdkConfig | None) -> Iterator[OvsDaemons]:
    """The target with mobility.p4 on the veths (DPDK ports with `dpdk`), both hosts'
    entries written; its daemons."""
    with serving(rundir, [BridgeSpec(f"bdo{wires.tag}", 1, wires.ports, wires.switch_ns,
                                     gre=False)], schema, dpdk=dpdk) as target:
        asyncio.run(_program(target.address, schema, config))
        yield OvsDaemons(rundir / str(wires.switch_ns), wires.switch_ns)


def test_tcp_and_latency_dpdk_against_netdev(benchmark: Any, tmp_path: Path,
                                             schema: P4Schema,
                                             build_paths: BuildPaths) -> None:
    config = build_paths.json.read_bytes()
    got: dict[str, list[tuple[float, float]]] = {OURS_NETDEV: [], OURS_DPDK: [], PLAIN_DPDK: []}
    setups: dict[str, Callable[[Wires, Path], contextlib.AbstractContextManager[OvsDaemons]]]
    setups = {
        OURS_NETDEV: lambda w, d: _ours(w, d, schema, config, None),
        OURS_DPDK: lambda w, d: _ours(w, d, schema, config, DpdkConfig()),
        PLAIN_DPDK: lambda w, d: plain_bridge(w, d, DpdkConfig()),
    }

    def rounds() -> None:
        for i in range(ROUNDS):
            for name, setup in setups.items():
                with setup(wires, tmp_path / f"{i}-{len(got[name])}-{name[:5]}"):
                    got[name].append(_measure(wires))

    with wired(switch_ns=True) as wires:
        benchmark.pedantic(rounds, rounds=1, iterations=1)
    rate = {n: statistics.median(r for r, _ in v) for n, v in got.items()}
    rtt = {n: statistics.median(t for _, t in v) for n, v in got.items()}
    lines = [f"  {n:<44} {rate[n] * 8 / 1e6:>7,.0f} Mbit/s  (rounds: "
             + ", ".join(f"{r * 8 / 1e6:,.0f}" for r, _ in got[n])
             + f")   UDP round trip {rtt[n] * 1e6:6.0f} us" for n in got]
    lines.append(f"  ours on DPDK / ours on netdev: x{rate[OURS_DPDK] / rate[OURS_NETDEV]:.2f} "
                 f"(goal >= x1.8); ours on DPDK / plain DPDK bridge: "
                 f"{rate[OURS_DPDK] / rate[PLAIN_DPDK]:.0%} (goal >= 90 %); round trip DPDK / "
                 f"netdev {rtt[OURS_DPDK] / rtt[OURS_NETDEV]:.2f}")
    RATIOS[THROUGHPUT] = lines


def _idle_cpu(pid: int, seconds: float = 2.0) -> float:
    """The share of one core process `pid` (all its threads) took over `seconds`."""
    def ticks() -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])      # utime, stime

    before = ticks()
    time.sleep(seconds)
    return (ticks() - before) / os.sysconf("SC_CLK_TCK") / seconds


def test_pmd_maxsleep_costs(benchmark: Any, tmp_path: Path, schema: P4Schema,
                            build_paths: BuildPaths) -> None:
    rows: list[tuple[int, float, float, float]] = []

    def sweep() -> None:
        with _ours(wires, tmp_path / "ovs", schema, build_paths.json.read_bytes(),
                   DpdkConfig()) as daemons:
            pid = daemons.running("ovs-vswitchd")
            assert pid is not None
            for us in SLEEPS_US:
                vsctl(daemons, ["set", "Open_vSwitch", ".", f"other_config:pmd-maxsleep={us}"])
                time.sleep(0.5)
                cpu = _idle_cpu(pid)
                rate, rtt = _measure(wires)
                rows.append((us, cpu, rtt, rate))

    with wired(switch_ns=True) as wires:
        benchmark.pedantic(sweep, rounds=1, iterations=1)
    RATIOS[SLEEP_TITLE] = [
        f"  pmd-maxsleep {us:>5} us: ovs-vswitchd idle {cpu:6.1%} of a core; UDP round trip "
        f"{rtt * 1e6:6.0f} us; TCP {rate * 8 / 1e6:,.0f} Mbit/s" for us, cpu, rtt, rate in rows]
