"""The P4Runtime server of the Open vSwitch target, over real gRPC against real OVS bridges.

Arbitration and validation as the P4Runtime specification says, and Stratum's list:
duplicate election id, zero election id, invalid device id, role change on an open
stream, write when not primary, write with no pipeline.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from ctrl.p4rt.entity import MulticastGroupEntry, TableEntry
from ctrl.p4rt.proto import p4r, p4r_grpc, rpc_code
from ctrl.p4rt.schema import P4Schema
from tests import p4shell
from tests.targets.ovs.rpc import FWD, PATHS, Stream, copy, upd, update_codes, write

pytestmark = pytest.mark.root


def _code(exc: pytest.ExceptionInfo[grpc.RpcError]) -> grpc.StatusCode:
    return exc.value.code()


def test_invalid_device_id(stub: p4r_grpc.P4RuntimeStub) -> None:
    s = Stream(stub)
    with pytest.raises(grpc.RpcError) as exc:
        s.arbitrate(99, 1)
    assert _code(exc) == grpc.StatusCode.NOT_FOUND


def test_zero_election_id(stub: p4r_grpc.P4RuntimeStub) -> None:
    s = Stream(stub)
    with pytest.raises(grpc.RpcError) as exc:
        s.arbitrate(1, 0)
    assert _code(exc) == grpc.StatusCode.INVALID_ARGUMENT


def test_duplicate_election_id(stub: p4r_grpc.P4RuntimeStub, primary: Stream) -> None:
    s = Stream(stub)
    with pytest.raises(grpc.RpcError) as exc:
        s.arbitrate(1, 10)
    assert _code(exc) == grpc.StatusCode.INVALID_ARGUMENT


def test_backup_hears_primary_and_takes_over(stub: p4r_grpc.P4RuntimeStub,
                                             primary: Stream) -> None:
    backup = Stream(stub)
    got = backup.arbitrate(1, 5).arbitration
    assert (got.status.code, got.election_id.low) == (rpc_code.ALREADY_EXISTS, 10)
    higher = Stream(stub)
    assert higher.arbitrate(1, 20).arbitration.status.code == rpc_code.OK
    assert next(primary.responses).arbitration.status.code == rpc_code.ALREADY_EXISTS
    higher.close()
    backup.close()


def test_role_change_on_open_stream(stub: p4r_grpc.P4RuntimeStub) -> None:
    s = Stream(stub)
    assert s.arbitrate(2, 3).arbitration.status.code == rpc_code.OK
    with pytest.raises(grpc.RpcError) as exc:
        s.arbitrate(2, 3, role="other")
    assert _code(exc) == grpc.StatusCode.INVALID_ARGUMENT


def test_write_when_not_primary(stub: p4r_grpc.P4RuntimeStub, schema: P4Schema,
                                primary: Stream) -> None:
    with pytest.raises(grpc.RpcError) as exc:
        write(stub, schema, [upd(p4r.Update.INSERT, FWD, schema)], election=9)
    assert _code(exc) == grpc.StatusCode.PERMISSION_DENIED


def test_write_with_no_pipeline(stub: p4r_grpc.P4RuntimeStub, schema: P4Schema) -> None:
    s = Stream(stub)
    assert s.arbitrate(2, 7).arbitration.status.code == rpc_code.OK
    with pytest.raises(grpc.RpcError) as exc:
        write(stub, schema, [upd(p4r.Update.INSERT, FWD, schema)], device_id=2, election=7)
    assert _code(exc) == grpc.StatusCode.FAILED_PRECONDITION
    s.close()


def test_write_to_unknown_device(stub: p4r_grpc.P4RuntimeStub, schema: P4Schema) -> None:
    with pytest.raises(grpc.RpcError) as exc:
        write(stub, schema, [upd(p4r.Update.INSERT, FWD, schema)], device_id=42)
    assert _code(exc) == grpc.StatusCode.NOT_FOUND


def test_other_program_refused(stub: p4r_grpc.P4RuntimeStub, schema: P4Schema,
                               primary: Stream) -> None:
    other = p4r.ForwardingPipelineConfig()
    other.p4info.CopyFrom(schema.p4info)
    other.p4info.tables[0].preamble.name = "not_mobility"
    with pytest.raises(grpc.RpcError) as exc:
        stub.SetForwardingPipelineConfig(p4r.SetForwardingPipelineConfigRequest(
            device_id=1, election_id=p4r.Uint128(low=10), config=other,
            action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT))
    assert _code(exc) == grpc.StatusCode.INVALID_ARGUMENT
    assert "only mobility.p4" in exc.value.details()


def test_batch_errors_per_update_in_order(stub: p4r_grpc.P4RuntimeStub, schema: P4Schema,
                                          primary: Stream) -> None:
    good = FWD.encode(schema)
    unknown_table, missing_param, extra_param, too_wide = (copy(good) for _ in range(4))
    unknown_table.table_id = 1
    del missing_param.action.action.params[:]
    extra_param.action.action.params.add(param_id=9, value=b"\x01")
    too_wide.match[0].exact.value = b"\x10\x00"  # vnet_id is 12 bits
    default = p4r.TableEntry(table_id=good.table_id, is_default_action=True)
    default.action.CopyFrom(good.action)
    other = TableEntry("bridging", {"vnet_id": 10, "eth_dst": "02:00:00:00:00:0c"},
                       "bridging.drop")
    batch = [upd(p4r.Update.INSERT, good, schema), upd(p4r.Update.INSERT, good, schema),
             upd(p4r.Update.DELETE, other, schema), upd(p4r.Update.INSERT, unknown_table, schema),
             upd(p4r.Update.INSERT, missing_param, schema),
             upd(p4r.Update.INSERT, extra_param, schema), upd(p4r.Update.INSERT, too_wide, schema),
             upd(p4r.Update.INSERT, default, schema)]
    with pytest.raises(grpc.RpcError) as exc:
        write(stub, schema, batch)
    assert _code(exc) == grpc.StatusCode.UNKNOWN
    assert update_codes(exc.value) == [rpc_code.OK, rpc_code.ALREADY_EXISTS, rpc_code.NOT_FOUND,
                                  rpc_code.INVALID_ARGUMENT, rpc_code.INVALID_ARGUMENT,
                                  rpc_code.INVALID_ARGUMENT, rpc_code.OUT_OF_RANGE,
                                  rpc_code.INVALID_ARGUMENT]
    read = list(stub.Read(p4r.ReadRequest(device_id=1, entities=[
        p4r.Entity(table_entry=p4r.TableEntry())])))
    got = [e.table_entry for r in read for e in r.entities]
    assert got == [good]
    # MODIFY and DELETE apply; a group reads back as written.
    changed = TableEntry(FWD.table, FWD.match, "bridging.flood", {"group": 3})
    group = MulticastGroupEntry.of_ports(3, [1, 2])
    write(stub, schema, [upd(p4r.Update.MODIFY, changed, schema), p4r.Update(
        type=p4r.Update.INSERT, entity=group.entity())])
    read = list(stub.Read(p4r.ReadRequest(device_id=1, entities=[
        p4r.Entity(table_entry=p4r.TableEntry(table_id=good.table_id)), group.entity()])))
    got_entities = [e for r in read for e in r.entities]
    assert got_entities[0].table_entry == changed.encode(schema)
    assert got_entities[1] == group.entity()
    write(stub, schema, [upd(p4r.Update.DELETE, changed, schema),
                         p4r.Update(type=p4r.Update.DELETE, entity=group.entity())])
    read = list(stub.Read(p4r.ReadRequest(device_id=1, entities=[
        p4r.Entity(table_entry=p4r.TableEntry())])))
    assert [e for r in read for e in r.entities] == []


def test_get_pipeline_and_capabilities(stub: p4r_grpc.P4RuntimeStub, schema: P4Schema,
                                       primary: Stream) -> None:
    got = stub.GetForwardingPipelineConfig(p4r.GetForwardingPipelineConfigRequest(device_id=1))
    assert got.config.p4info == schema.p4info
    assert got.config.p4_device_config == PATHS.json.read_bytes()
    assert stub.Capabilities(p4r.CapabilitiesRequest()).p4runtime_api_version == "1.4.1"


def test_p4runtime_shell_interop(server: str, schema: P4Schema, tmp_path: Path) -> None:
    """p4runtime-shell (its own virtualenv, over the wire) sets the pipeline, inserts an entry,
    reads it back and deletes it."""
    python = p4shell.shell_python()
    if python is None:
        pytest.skip("no p4runtime-shell virtualenv: `./run setup` makes .venv-p4shell")
    with p4shell.Shell(python, PATHS) as shell:
        assert shell.call("connect", addr=server, device_id=2, election_low=50) is True
        try:
            assert shell.call("insert", entries=[[10, 0x02000000000B, 3]]) == 1
            assert shell.call("read") == [[10, 0x02000000000B, 3]]
            assert shell.call("delete_all") == 1
            assert shell.call("read") == []
        finally:
            shell.call("close")
