"""Packet-in parsing of 100,000 mixed frames (ARP, RARP, VLAN, IPv4, GRE, LLDP, IPv6):
the C batch call next to the Python reference, dpkt and scapy, in the same run.

scapy is timed on the first 2,000 frames and scaled per frame (it would take
minutes on all of them); the summary says so. "C, records made" also turns
every record into a Python object, which is what a caller that reads them all
pays. Ratios are of medians; nothing is asserted.
"""

from __future__ import annotations

from typing import Any

import dpkt
import pytest
from scapy.layers.l2 import Ether

from bench.conftest import RATIOS
from ctrl.fastpath import c_module, parse_batch
from ctrl.fastpath.parse_ref import parse_batch as ref_batch
from tests.fastpath_frames import mixed

N = 100_000
SCAPY_N = 2_000
FRAMES = mixed(N)
TITLE = f"parsing {N:,} mixed frames (median per-frame time, ratio to dpkt)"
PER_FRAME: dict[str, float] = {}


def _record(name: str, median: float, frames: int) -> None:
    PER_FRAME[name] = median / frames
    base = PER_FRAME.get("dpkt")
    RATIOS[TITLE] = [
        f"  {n:<22} {t * 1e9:>9,.0f} ns/frame" + (f"   x{base / t:,.1f} dpkt" if base else "")
        for n, t in sorted(PER_FRAME.items(), key=lambda kv: kv[1])
    ]


def _dpkt(frames: list[bytes]) -> int:
    count = 0
    for f in frames:
        eth = dpkt.ethernet.Ethernet(f)
        count += isinstance(eth.data, (dpkt.arp.ARP, dpkt.ip.IP))
    return count


def test_dpkt(benchmark: Any) -> None:
    benchmark.pedantic(_dpkt, args=(FRAMES,), rounds=3, iterations=1)
    _record("dpkt", benchmark.stats.stats.median, N)


@pytest.mark.skipif(c_module() is None, reason="the C fast path is not built")
def test_c_batch(benchmark: Any) -> None:
    benchmark.pedantic(parse_batch, args=(FRAMES,), rounds=5, iterations=1)
    _record("C batch call", benchmark.stats.stats.median, N)


@pytest.mark.skipif(c_module() is None, reason="the C fast path is not built")
def test_c_records_made(benchmark: Any) -> None:
    benchmark.pedantic(lambda: list(parse_batch(FRAMES)), rounds=3, iterations=1)
    _record("C, records made", benchmark.stats.stats.median, N)


def test_python_reference(benchmark: Any) -> None:
    benchmark.pedantic(ref_batch, args=(FRAMES,), rounds=2, iterations=1)
    _record("Python reference", benchmark.stats.stats.median, N)


def test_scapy(benchmark: Any) -> None:
    subset = FRAMES[:SCAPY_N]
    benchmark.pedantic(lambda: [Ether(f) for f in subset], rounds=2, iterations=1)
    _record(f"scapy ({SCAPY_N:,} frames)", benchmark.stats.stats.median, SCAPY_N)
