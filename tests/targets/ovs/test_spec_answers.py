"""The P4Runtime specification's answers where clients depend on them, over real gRPC on
real OVS: is_const in a Write, a device id that changes on a stream, DirectCounterEntry
reads, RECONCILE_AND_COMMIT, and errors worded as the reference servers word them
(finsy matches "no .*forwarding pipeline config" and "election id .*(used|exists)")."""

from __future__ import annotations

import re

import grpc
import pytest

from ctrl.p4rt.entity import TableEntry
from ctrl.p4rt.proto import p4r, p4r_grpc, rpc_code
from ctrl.p4rt.schema import P4Schema
from tests.targets.ovs.rpc import FWD, PATHS, Stream, upd, update_codes, write

pytestmark = pytest.mark.root

FINSY_NO_PIPELINE = re.compile(r"no .*\bforwarding pipeline config", re.IGNORECASE)
FINSY_ELECTION_ID_EXISTS = re.compile(r"election id .*\b(?:used|exists)\b", re.IGNORECASE)
OTHER = TableEntry("bridging", {"vnet_id": 10, "eth_dst": "02:00:00:00:00:0d"},
                   "bridging.forward", {"port": 3})


def test_is_const_in_a_write_is_invalid(stub: p4r_grpc.P4RuntimeStub, schema: P4Schema,
                                        primary: Stream) -> None:
    msg = FWD.encode(schema)
    msg.is_const = True
    with pytest.raises(grpc.RpcError) as exc:
        write(stub, schema, [upd(p4r.Update.INSERT, msg, schema)])
    assert update_codes(exc.value) == [rpc_code.INVALID_ARGUMENT]
    read = list(stub.Read(p4r.ReadRequest(device_id=1, entities=[
        p4r.Entity(table_entry=p4r.TableEntry())])))
    assert [e for r in read for e in r.entities] == []


def test_a_device_id_that_changes_on_a_stream_is_a_failed_precondition(
        stub: p4r_grpc.P4RuntimeStub) -> None:
    s = Stream(stub)
    assert s.arbitrate(2, 4).arbitration.status.code == rpc_code.OK
    with pytest.raises(grpc.RpcError) as exc:
        s.arbitrate(1, 4)
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_errors_are_worded_as_the_reference_servers(stub: p4r_grpc.P4RuntimeStub,
                                                    schema: P4Schema, primary: Stream) -> None:
    for call in (lambda: stub.GetForwardingPipelineConfig(
                     p4r.GetForwardingPipelineConfigRequest(device_id=2)),
                 lambda: list(stub.Read(p4r.ReadRequest(device_id=2, entities=[
                     p4r.Entity(table_entry=p4r.TableEntry())])))):
        with pytest.raises(grpc.RpcError) as exc:
            call()
        assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert FINSY_NO_PIPELINE.search(exc.value.details())
    with pytest.raises(grpc.RpcError) as exc:
        Stream(stub).arbitrate(1, 10)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert FINSY_ELECTION_ID_EXISTS.search(exc.value.details())


def _read(stub: p4r_grpc.P4RuntimeStub, entity: p4r.Entity) -> list[p4r.Entity]:
    return [e for r in stub.Read(p4r.ReadRequest(device_id=1, entities=[entity]))
            for e in r.entities]


def test_direct_counters_read_one_entry_a_table_or_all(stub: p4r_grpc.P4RuntimeStub,
                                                       schema: P4Schema,
                                                       primary: Stream) -> None:
    port = TableEntry("ingress_port", {"ingress_port": 4}, "ingress_port.set_access",
                      {"vnet_id": 10})
    write(stub, schema, [upd(p4r.Update.INSERT, e, schema) for e in (FWD, OTHER, port)])
    bridging = schema.tables["bridging"].id
    one = FWD.encode(schema)
    del one.action.action.params[:]
    one.ClearField("action")
    got = _read(stub, p4r.Entity(direct_counter_entry=p4r.DirectCounterEntry(table_entry=one)))
    assert [e.direct_counter_entry.table_entry for e in got] == [one]
    assert got[0].direct_counter_entry.HasField("data")
    table = _read(stub, p4r.Entity(direct_counter_entry=p4r.DirectCounterEntry(
        table_entry=p4r.TableEntry(table_id=bridging))))
    assert sorted(e.direct_counter_entry.table_entry.SerializeToString() for e in table) == \
        sorted(_key(e.encode(schema)).SerializeToString() for e in (FWD, OTHER))
    every = _read(stub, p4r.Entity(direct_counter_entry=p4r.DirectCounterEntry(
        table_entry=p4r.TableEntry())))
    assert len(every) == 3
    # The same figures as the table entries' counter_data.
    with_data = _read(stub, p4r.Entity(table_entry=p4r.TableEntry(
        table_id=bridging, counter_data=p4r.CounterData())))
    assert sorted((e.table_entry.counter_data.packet_count,
                   e.table_entry.counter_data.byte_count) for e in with_data) == \
        sorted((e.direct_counter_entry.data.packet_count,
                e.direct_counter_entry.data.byte_count) for e in table)
    with pytest.raises(grpc.RpcError) as exc:
        _read(stub, p4r.Entity(direct_counter_entry=p4r.DirectCounterEntry(
            table_entry=p4r.TableEntry(table_id=12345))))
    assert exc.value.code() == grpc.StatusCode.NOT_FOUND
    write(stub, schema, [upd(p4r.Update.DELETE, e, schema) for e in (FWD, OTHER, port)])


def _key(msg: p4r.TableEntry) -> p4r.TableEntry:
    out = p4r.TableEntry(table_id=msg.table_id, priority=msg.priority)
    out.match.extend(msg.match)
    return out


def test_reconcile_and_commit_keeps_the_entries(stub: p4r_grpc.P4RuntimeStub, schema: P4Schema,
                                                primary: Stream) -> None:
    write(stub, schema, [upd(p4r.Update.INSERT, FWD, schema)])
    config = p4r.ForwardingPipelineConfig(p4info=schema.p4info,
                                          p4_device_config=PATHS.json.read_bytes(),
                                          cookie=p4r.ForwardingPipelineConfig.Cookie(cookie=7))
    stub.SetForwardingPipelineConfig(p4r.SetForwardingPipelineConfigRequest(
        device_id=1, election_id=p4r.Uint128(low=10), config=config,
        action=p4r.SetForwardingPipelineConfigRequest.RECONCILE_AND_COMMIT))
    got = stub.GetForwardingPipelineConfig(p4r.GetForwardingPipelineConfigRequest(
        device_id=1, response_type=p4r.GetForwardingPipelineConfigRequest.COOKIE_ONLY))
    assert got.config.cookie.cookie == 7
    assert [e.table_entry for e in _read(stub, p4r.Entity(table_entry=p4r.TableEntry()))] == \
        [FWD.encode(schema)]
    write(stub, schema, [upd(p4r.Update.DELETE, FWD, schema)])


def test_direct_resources_are_refused_where_the_target_cannot_honour_them(
        stub: p4r_grpc.P4RuntimeStub, schema: P4Schema, primary: Stream) -> None:
    metered = FWD.encode(schema)
    metered.meter_config.cir = 1
    timed = FWD.encode(schema)
    timed.idle_timeout_ns = 10**9
    preset = FWD.encode(schema)
    preset.counter_data.packet_count = 5
    zero = OTHER.encode(schema)
    zero.counter_data.SetInParent()
    with pytest.raises(grpc.RpcError) as exc:
        write(stub, schema, [upd(p4r.Update.INSERT, m, schema)
                             for m in (metered, timed, preset, zero)])
    assert update_codes(exc.value) == [rpc_code.INVALID_ARGUMENT] * 2 + [
        rpc_code.UNIMPLEMENTED, rpc_code.OK]
    held = [TableEntry.decode(e.table_entry, schema).key()
            for e in _read(stub, p4r.Entity(table_entry=p4r.TableEntry()))]
    assert held == [OTHER.key()]
