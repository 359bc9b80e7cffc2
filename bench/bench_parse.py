"""Packet-in parsing of 100,000 mixed frames: the C batch call next to the Python
reference, dpkt and scapy, in the same run. Goal (issue 6): C >= 100x dpkt.

The frames cycle through ARP, RARP, ARP in a VLAN, IPv4/TCP, four kinds of GRE
(inner IPv4, inner ARP, IPv4 in GRE, key + checksum + sequence), two LLDP, two
DHCP and one IPv6 (tests/fastpath/frames.py: corpus()).

- "C batch call" is BatchParser.parse(), what the controller calls: joining the
  frames, the one C call and the RecordBatch around its records (memory of the
  records of a batch already gone is reused). "+ metadata" also carries the
  packet-in metadata of every frame (MetaColumns). "one-shot parse_batch()" takes
  fresh memory for each batch: on this VM first touching 17 MB of new pages costs
  more than parsing. "C, every record made" also turns every record into Python
  objects, which is what a caller reading them all pays.
- dpkt dissects what it knows: Ethernet with its VLAN tag, ARP, IPv4, GRE and the
  Ethernet inside, UDP; RARP and DHCP are handed to dpkt.arp / dpkt.dhcp. It has no
  LLDP, so LLDP costs it only the Ethernet header: the ratio to dpkt is, if
  anything, in dpkt's favour.
- scapy dissects everything (Ether(frame)), but would take minutes on all frames:
  it is timed on the first 2,000 and compared per frame.

The summary prints nanoseconds per frame (medians) and the ratios. Nothing about
time is asserted; that C equals the reference on these frames is.
"""

from __future__ import annotations

from array import array
from typing import Any

import dpkt
import pytest
from scapy.layers.l2 import Ether

from bench.conftest import RATIOS
from ctrl.fastpath import Backend, BatchParser, MetaColumns, native_available, parse_batch
from tests.fastpath.frames import mixed

N = 100_000
SCAPY_N = 2_000
FRAMES = mixed(N)
META = MetaColumns(array("H", (1 + i % 48 for i in range(N))),
                   array("B", (1 + i % 5 for i in range(N))),
                   array("H", (i % 4096 for i in range(N))))
TITLE = f"packet-in parsing, {N:,} mixed frames: ns per frame (median), ratios"
PER_FRAME: dict[str, float] = {}
C_BATCH, C_META, C_ONE_SHOT, C_RECORDS, REFERENCE, DPKT, SCAPY = (
    "C batch call", "C batch call + metadata", "C, one-shot parse_batch()",
    "C, every record made", "Python reference", "dpkt", f"scapy (first {SCAPY_N:,} frames)")

needs_c = pytest.mark.skipif(not native_available(), reason="the C fast path is not built")


def _record(name: str, median: float, frames: int) -> None:
    PER_FRAME[name] = median / frames
    c = PER_FRAME.get(C_BATCH)
    lines = []
    for label in (C_BATCH, C_META, C_ONE_SHOT, C_RECORDS, REFERENCE, DPKT, SCAPY):
        if label not in PER_FRAME:
            continue
        t = PER_FRAME[label]
        ratio = f"   x{t / c:,.1f} the C batch call" if c and label != C_BATCH else ""
        lines.append(f"  {label:<30} {t * 1e9:>12,.0f} ns/frame{ratio}")
    RATIOS[TITLE] = lines


def _dpkt(frames: list[bytes]) -> int:
    parsed = 0
    for frame in frames:
        try:
            eth = dpkt.ethernet.Ethernet(frame)
            data = eth.data
            if eth.type == 0x8035:
                data = dpkt.arp.ARP(data)
            elif isinstance(data, dpkt.ip.IP) and isinstance(data.data, dpkt.udp.UDP) and (
                    {data.data.sport, data.data.dport} == {67, 68}):
                data = dpkt.dhcp.DHCP(data.data.data)
            parsed += data is not None
        except (dpkt.UnpackError, dpkt.NeedData):
            pass
    return parsed


def test_c_batch_call(benchmark: Any) -> None:
    if not native_available():
        pytest.skip("the C fast path is not built")
    parser = BatchParser(Backend.NATIVE)
    records = benchmark.pedantic(parser.parse, args=(FRAMES,), rounds=15, iterations=1,
                                 warmup_rounds=1)
    assert len(records) == N
    step = 97  # C equals the reference here too (on every 97th frame, to keep it short)
    assert records[::step] == list(parse_batch(FRAMES[::step], backend=Backend.REFERENCE))
    _record(C_BATCH, benchmark.stats.stats.median, N)


@needs_c
def test_c_batch_call_with_metadata(benchmark: Any) -> None:
    parser = BatchParser(Backend.NATIVE)
    records = benchmark.pedantic(parser.parse, args=(FRAMES, META), rounds=15, iterations=1,
                                 warmup_rounds=1)
    assert records[-1].meta is not None and records[-1].meta.vnet_id == (N - 1) % 4096
    _record(C_META, benchmark.stats.stats.median, N)


@needs_c
def test_c_one_shot(benchmark: Any) -> None:
    benchmark.pedantic(parse_batch, args=(FRAMES,), kwargs={"backend": Backend.NATIVE},
                       rounds=10, iterations=1, warmup_rounds=1)
    _record(C_ONE_SHOT, benchmark.stats.stats.median, N)


@needs_c
def test_c_every_record_made(benchmark: Any) -> None:
    parser = BatchParser(Backend.NATIVE)
    benchmark.pedantic(lambda: list(parser.parse(FRAMES)), rounds=3, iterations=1)
    _record(C_RECORDS, benchmark.stats.stats.median, N)


def test_python_reference(benchmark: Any) -> None:
    benchmark.pedantic(parse_batch, args=(FRAMES,), kwargs={"backend": Backend.REFERENCE},
                       rounds=2, iterations=1)
    _record(REFERENCE, benchmark.stats.stats.median, N)


def test_dpkt(benchmark: Any) -> None:
    parsed = benchmark.pedantic(_dpkt, args=(FRAMES,), rounds=3, iterations=1)
    assert parsed == N
    _record(DPKT, benchmark.stats.stats.median, N)


def test_scapy(benchmark: Any) -> None:
    subset = FRAMES[:SCAPY_N]
    benchmark.pedantic(lambda: [Ether(f) for f in subset], rounds=2, iterations=1)
    _record(SCAPY, benchmark.stats.stats.median, SCAPY_N)
