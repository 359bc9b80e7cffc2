"""Writes the Write decoder fuzzer's seed inputs (ext/fuzz/fuzz_p4rt.c): WriteRequests
for the harness's own small schema (tables 10, 20, 30; actions 100, 200, 300) and
for mobility.p4, each behind the harness's mode byte.

Usage (from the project folder): python ext/fuzz/seeds_p4rt.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.p4rt.entity import TableEntry, delete, insert
from ctrl.p4rt.proto import p4r
from ctrl.p4rt.schema import P4Schema
from tests.p4rt import wire_cases as p4rt_wire

MODES = (0x01, 0x00, 0x03, 0x05)  # schema; none; changed schema; schema, other capacities


def harness_requests() -> list[p4r.WriteRequest]:
    """Entries of the harness's schema: good ones and one of most verdicts."""
    entry = p4rt_wire.entry
    good = entry(10, ((1, b"\x01"), (2, bytes(6))), 100, ((1, b"\x01\x00"),))
    entries = [
        good,
        entry(20, ((1, b"\x0a\x00\x00\x01"), (2, b"\x01")), 300,
              ((1, bytes(6)), (2, bytes(8)))),
        entry(30, (), 300, ((2, b"\x01"), (1, b"\x01"))),
        entry(10, ((1, b"\x10\x00"), (2, b"")), 200),
        entry(10, ((2, b"\x01"), (2, b"\x01")), 100, ((1, b"\x02\x00"),)),
        entry(20, (), None, is_default=True),
        entry(10, ((1, b"\x01"), (2, b"\x01")), 100, ((1, b"\x01"),), priority=-1),
    ]
    types = [p4r.Update.INSERT, p4r.Update.MODIFY, p4r.Update.DELETE, 0]
    req = p4r.WriteRequest(device_id=1, role="r", election_id=p4r.Uint128(high=1, low=2),
                           atomicity=p4r.WriteRequest.ROLLBACK_ON_ERROR)
    for i, te in enumerate(entries):
        req.updates.add(type=types[i % len(types)]).entity.table_entry.CopyFrom(te)
    slow = p4r.WriteRequest()
    for kind in p4rt_wire.SLOW_KINDS:
        slow.updates.add(type=1, entity=p4rt_wire._slow_entity(kind, good))
    return [req, slow, p4r.WriteRequest(updates=[req.updates[0]] * 3)]


def mobility_requests() -> list[p4r.WriteRequest]:
    schema = P4Schema.load(BuildPaths(project_root()).p4info)
    entries = [TableEntry("bridging", {"vnet_id": 1 + i, "eth_dst": 0x020000000000 + i},
                          "bridging.forward", {"port": 1 + i}) for i in range(3)]
    req = p4r.WriteRequest(device_id=1, election_id=p4r.Uint128(low=1))
    req.updates.extend([insert(e).encode(schema) for e in entries]
                       + [delete(entries[0]).encode(schema)])
    return [req]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for i, req in enumerate(harness_requests() + mobility_requests()):
        data = req.SerializeToString()
        for mode in MODES:
            (out / f"seed-{i:02d}-{mode:02x}").write_bytes(bytes([mode]) + data)
        # The same request re-encoded as protobuf reads but never writes.
        tree = p4rt_wire.parse(data)
        padded = tuple(p4rt_wire.Field(f.num, f.wt, f.value, pad=int(f.wt == p4rt_wire.LEN))
                       for f in tree)
        (out / f"seed-{i:02d}-padded").write_bytes(b"\x01" + p4rt_wire.encode(padded))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
