"""Driving the OVS target's P4Runtime server from tests with the generated stubs: a
StreamChannel, Writes, Updates, the per-update codes of a failed batch."""

from __future__ import annotations

import queue
from typing import Any, cast

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
    return p4r.Update(type=cast("p4r.Update.Type", kind), entity=p4r.Entity(table_entry=msg))


def update_errors(exc: Any) -> list[tuple[int, str]]:
    """(canonical code, message) of each update of a failed Write, in order."""
    for key, value in exc.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            out = []
            for d in rpc_status.Status.FromString(value).details:
                err = p4r.Error()
                d.Unpack(err)
                out.append((err.canonical_code, err.message))
            return out
    return []


def update_codes(exc: grpc.RpcError) -> list[int]:
    """The canonical code of each update of a failed Write, in order."""
    return [code for code, _ in update_errors(exc)]


ELECTION = 10
Outcome = tuple[str, str, list[tuple[int, str]]]  # code, details, each update's error


class RawTarget:
    """One server: a primary stream on device 1, and Write with the request as bytes."""

    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(address)
        self.stub = p4r_grpc.P4RuntimeStub(self.channel)
        self.raw = self.channel.unary_unary("/p4.v1.P4Runtime/Write",
                                            request_serializer=None,
                                            response_deserializer=p4r.WriteResponse.FromString)
        self.requests: queue.Queue[p4r.StreamMessageRequest | None] = queue.Queue()
        self.responses = self.stub.StreamChannel(iter(self.requests.get, None))
        self.requests.put(p4r.StreamMessageRequest(arbitration=p4r.MasterArbitrationUpdate(
            device_id=1, election_id=p4r.Uint128(low=ELECTION))))
        next(self.responses)

    def reset(self, schema: P4Schema | None = None) -> None:
        """The pipeline set again: the forwarding state cleared."""
        schema = schema or P4Schema.load(PATHS.p4info)
        self.stub.SetForwardingPipelineConfig(p4r.SetForwardingPipelineConfigRequest(
            device_id=1, election_id=p4r.Uint128(low=ELECTION),
            action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT,
            config=p4r.ForwardingPipelineConfig(p4info=schema.p4info,
                                                p4_device_config=PATHS.json.read_bytes())))

    def write(self, data: bytes) -> Outcome:
        try:
            self.raw(data)
        except grpc.RpcError as exc:
            return exc.code().name, exc.details() or "", update_errors(exc)
        return "OK", "", []

    def read(self) -> list[bytes]:
        wanted = [p4r.Entity(table_entry=p4r.TableEntry()),
                  p4r.Entity(packet_replication_engine_entry=p4r.PacketReplicationEngineEntry(
                      multicast_group_entry=p4r.MulticastGroupEntry()))]
        got = self.stub.Read(p4r.ReadRequest(device_id=1, entities=wanted))
        return sorted(e.SerializeToString() for r in got for e in r.entities)

    def close(self) -> None:
        self.requests.put(None)
        self.responses.cancel()
        self.channel.close()
