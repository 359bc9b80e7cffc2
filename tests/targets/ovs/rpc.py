"""Driving the OVS target's P4Runtime server from tests with the generated stubs: a
StreamChannel, Writes, Updates, the per-update codes of a failed batch."""

from __future__ import annotations

import queue
from typing import Any

import grpc

from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.p4rt.entity import TableEntry
from ctrl.p4rt.proto import p4r, p4r_grpc, rpc_status
from ctrl.p4rt.schema import P4Schema

PATHS = BuildPaths(project_root())
FWD = TableEntry("bridging", {"vnet_id": 10, "eth_dst": "02:00:00:00:00:0b"},
                 "bridging.forward", {"port": 2})


class Stream:
    """A StreamChannel driven from a test: put requests, take responses."""

    def __init__(self, stub: p4r_grpc.P4RuntimeStub) -> None:
        self.requests: queue.Queue[p4r.StreamMessageRequest | None] = queue.Queue()
        self.responses = stub.StreamChannel(iter(self.requests.get, None))

    def arbitrate(self, device_id: int, election: int, role: str = "") -> Any:
        self.requests.put(p4r.StreamMessageRequest(arbitration=p4r.MasterArbitrationUpdate(
            device_id=device_id, role=p4r.Role(name=role),
            election_id=p4r.Uint128(high=0, low=election))))
        return next(self.responses)

    def close(self) -> None:
        self.requests.put(None)
        self.responses.cancel()


def copy(msg: p4r.TableEntry) -> p4r.TableEntry:
    out = p4r.TableEntry()
    out.CopyFrom(msg)
    return out


def write(stub: p4r_grpc.P4RuntimeStub, schema: P4Schema, updates: list[p4r.Update],
          device_id: int = 1, election: int = 10) -> None:
    stub.Write(p4r.WriteRequest(device_id=device_id, election_id=p4r.Uint128(low=election),
                                updates=updates))


def upd(kind: int, entry: TableEntry | p4r.TableEntry, schema: P4Schema) -> p4r.Update:
    msg = entry.encode(schema) if isinstance(entry, TableEntry) else entry
    return p4r.Update(type=kind, entity=p4r.Entity(table_entry=msg))


def update_codes(exc: grpc.RpcError) -> list[int]:
    """The canonical code of each update of a failed Write, in order."""
    for key, value in exc.trailing_metadata():
        if key == "grpc-status-details-bin":
            status = rpc_status.Status.FromString(value)
            out = []
            for d in status.details:
                err = p4r.Error()
                d.Unpack(err)
                out.append(err.canonical_code)
            return out
    return []
