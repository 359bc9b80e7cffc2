"""Decoding a batched P4Runtime Write of 10,000 bridging inserts: the C decoder next to
protobuf (6, its C core upb) in the same run. Goal (issue 3): the OVS target takes
>= 20,000 entries/s, so decoding and checking must cost well under 50 us an entry.

- "C decode + verdicts" is WriteDecoder.decode(): the request's bytes to columns,
  every update checked against the P4Info in C (ext/fp_p4rt.c), the columns copied
  into arrays. "+ every update as ints" also makes each fast update's FastUpdate
  (tuples of ints), which is what a server reading them all pays. "C decode + entries"
  is the OVS target's fast Write path whole (ctrl/targets/ovs/fastwrite.py): decode,
  verdicts, and each update made into parse_update's answer (a TableEntry) from the columns.
- "protobuf FromString + field access" is WriteRequest.FromString() and reading
  the same fields in Python (table id, each match's id and value as an int, the
  action id, each parameter's id and value): the least the server pays today
  before it checks anything. "+ parse_update" is what it does today: protobuf,
  then ctrl/targets/ovs/validate.py's checks of every update: the same answers as
  "C decode + entries" (asserted), so their ratio is the one that decides whether C pays.

The summary prints microseconds per entry (medians) and the ratios. Nothing about
time is asserted; that C equals the reference on this request is.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.conftest import RATIOS
from ctrl.fastpath import Backend, CompiledSchema, WriteDecoder, decode_write, native_available
from ctrl.p4rt.entity import TableEntry, insert
from ctrl.p4rt.proto import p4r
from ctrl.p4rt.schema import P4Schema
from ctrl.targets.ovs.fastwrite import WriteParser
from ctrl.targets.ovs.validate import parse_update

N = 10_000
TITLE = f"decoding one Write of {N:,} bridging inserts: us per entry (median), ratios"
PER_ENTRY: dict[str, float] = {}
C_DECODE, C_INTS, C_ENTRIES, PB_FIELDS, PB_VALIDATE = (
    "C decode + verdicts", "C decode + verdicts + every update as ints",
    "C decode + entries (the OVS target's fast path)",
    "protobuf FromString + field access", "protobuf FromString + parse_update")

needs_c = pytest.mark.skipif(not native_available(), reason="the C fast path is not built")


def request(schema: P4Schema, n: int = N) -> bytes:
    """n bridging inserts in one WriteRequest, as bench_ovs_writes.py writes them."""
    entries = [TableEntry("bridging", {"vnet_id": 1 + i % 4000, "eth_dst": 0x020000000000 + i},
                          "bridging.forward", {"port": 1 + i % 8}) for i in range(n)]
    req = p4r.WriteRequest(device_id=1, election_id=p4r.Uint128(low=1))
    req.updates.extend(insert(e).encode(schema) for e in entries)
    data: bytes = req.SerializeToString()
    return data


@pytest.fixture(scope="module")
def data(schema: P4Schema) -> bytes:
    return request(schema)


@pytest.fixture(scope="module")
def compiled(schema: P4Schema) -> CompiledSchema:
    return CompiledSchema.from_p4schema(schema)


def _record(name: str, median: float) -> None:
    PER_ENTRY[name] = median / N
    lines = []
    for label in (C_DECODE, C_INTS, C_ENTRIES, PB_FIELDS, PB_VALIDATE):
        if label not in PER_ENTRY:
            continue
        t = PER_ENTRY[label]
        ratios = [f"x{t / PER_ENTRY[c]:,.0f} {short}" for c, short in
                  ((C_DECODE, "C decode"), (C_INTS, "C as ints"), (C_ENTRIES, "C entries"))
                  if c in PER_ENTRY and label in (PB_FIELDS, PB_VALIDATE)]
        lines.append(f"  {label:<44} {t * 1e6:>8.2f} us/entry   {', '.join(ratios)}".rstrip())
    RATIOS[TITLE] = lines


def _fields(data: bytes) -> int:
    """protobuf's parse, then every field the C decoder gives, read in Python."""
    req = p4r.WriteRequest.FromString(data)
    total = 0
    for u in req.updates:
        te = u.entity.table_entry
        total += u.type + te.table_id + te.priority + te.is_default_action
        for fm in te.match:
            total += fm.field_id + int.from_bytes(fm.exact.value, "big")
        act = te.action.action
        total += act.action_id
        for p in act.params:
            total += p.param_id + int.from_bytes(p.value, "big")
    return total


def _ints(decoder: WriteDecoder, data: bytes) -> int:
    return sum(u.table_id + u.action_id for u in decoder.decode(data).fast_updates()
               if u.action_id is not None)


@needs_c
def test_c_decode(benchmark: Any, data: bytes, compiled: CompiledSchema) -> None:
    decoder = WriteDecoder(compiled, Backend.NATIVE)
    batch = benchmark.pedantic(decoder.decode, args=(data,), rounds=15, iterations=1,
                               warmup_rounds=1)
    assert len(batch) == N and batch.n_slow == 0 and batch.refused() == []
    assert batch == decode_write(data, compiled, backend=Backend.REFERENCE)
    _record(C_DECODE, benchmark.stats.stats.median)


@needs_c
def test_c_decode_every_update_as_ints(benchmark: Any, data: bytes,
                                       compiled: CompiledSchema) -> None:
    decoder = WriteDecoder(compiled, Backend.NATIVE)
    total = benchmark.pedantic(_ints, args=(decoder, data), rounds=10, iterations=1,
                               warmup_rounds=1)
    assert total > 0
    _record(C_INTS, benchmark.stats.stats.median)


@needs_c
def test_c_decode_into_entries(benchmark: Any, data: bytes, schema: P4Schema) -> None:
    parser = WriteParser(schema)
    got = benchmark.pedantic(lambda: parser.parse(parser.decode(data)), rounds=10,
                             iterations=1, warmup_rounds=1)
    assert got == [parse_update(u, schema) for u in p4r.WriteRequest.FromString(data).updates]
    _record(C_ENTRIES, benchmark.stats.stats.median)


def test_protobuf_field_access(benchmark: Any, data: bytes) -> None:
    benchmark.pedantic(_fields, args=(data,), rounds=5, iterations=1)
    _record(PB_FIELDS, benchmark.stats.stats.median)


def test_protobuf_and_parse_update(benchmark: Any, data: bytes, schema: P4Schema) -> None:
    def run() -> int:
        return len([parse_update(u, schema) for u in p4r.WriteRequest.FromString(data).updates])

    assert benchmark.pedantic(run, rounds=5, iterations=1) == N
    _record(PB_VALIDATE, benchmark.stats.stats.median)
