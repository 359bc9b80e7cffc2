"""Malformed P4Runtime requests on the wire to the OVS target (hypothesis): random bytes to
every method, and valid Writes from the primary with bytes flipped, inserted, cut out or
cut off, sent as raw bytes through a channel with no serializer. The server answers each
with a code of the specification, keeps serving, and what it holds changes by exactly the
updates it said it applied: nothing at all where the request as a whole was refused."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import grpc
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from ctrl.p4rt.entity import MulticastGroupEntry, TableEntry, insert
from ctrl.p4rt.proto import p4r, rpc_code
from ctrl.p4rt.schema import P4Schema
from tests.p4rt import wire_cases as w
from tests.targets.ovs.rpc import ELECTION, PATHS, RawTarget

pytestmark = pytest.mark.root

SCHEMA = P4Schema.load(PATHS.p4info)
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])
# What a request may be answered with; UNKNOWN only for a batch, with each update's code.
SPEC_CODES = {"OK", "INVALID_ARGUMENT", "NOT_FOUND", "PERMISSION_DENIED", "FAILED_PRECONDITION",
              "OUT_OF_RANGE", "UNIMPLEMENTED", "ALREADY_EXISTS", "RESOURCE_EXHAUSTED"}
BASELINE = [TableEntry("bridging", {"vnet_id": 10, "eth_dst": 0x020000000100 + i},
                       "bridging.forward", {"port": 1 + i}) for i in range(3)]
# Found by CI: an INSERT into ingress_port whose counter_data presets 1 packet, which the
# target once took and dropped silently.
PRESET_COUNTER = (b'\x08\x01\x1a\x02\x10\n"!\x08\x01\x12\x1d\x12\x1b\x08\x95\x87\xf5\x13'
                  b'\x12\x07\x08\x01\x12\x03\n\x01\x00\x1a\x07\n\x05\x08\xcf\xc8\xf1\n:\x02\x10\x01')
METHODS = ["Read", "SetForwardingPipelineConfig", "GetForwardingPipelineConfig",
           "Capabilities", "Write"]

Key = tuple[object, ...]


@pytest.fixture(scope="module")
def target(server: str) -> Iterator[RawTarget]:
    t = RawTarget(server)
    yield t
    t.close()


def _baseline(t: RawTarget) -> None:
    t.reset(SCHEMA)
    req = p4r.WriteRequest(device_id=1, election_id=p4r.Uint128(low=ELECTION))
    req.updates.extend(insert(e).encode(SCHEMA) for e in BASELINE)
    assert t.write(req.SerializeToString())[0] == "OK"


def _held(t: RawTarget) -> dict[Key, object]:
    out: dict[Key, object] = {}
    for data in t.read():
        _account(out, p4r.Entity.FromString(data), p4r.Update.INSERT)
    return out


def _account(state: dict[Key, object], ent: p4r.Entity, kind: int) -> None:
    """`state` (key -> entity) as one applied update leaves it."""
    if ent.WhichOneof("entity") == "table_entry":
        e = TableEntry.decode(ent.table_entry, SCHEMA)
        key: Key = e.key()
        # Reads leave counters out: a count given as 0 is what a new entry holds anyway.
        zero = e.counter is not None and not (e.counter.packets or e.counter.bytes)
        value: object = replace(e, counter=None) if zero else e
    else:
        g = MulticastGroupEntry.decode(ent.packet_replication_engine_entry
                                       .multicast_group_entry)
        key, value = ("group", g.group_id), g
    if kind == p4r.Update.DELETE:
        state.pop(key, None)
    else:
        state[key] = value


def _alive(t: RawTarget) -> None:
    assert t.stub.Capabilities(p4r.CapabilitiesRequest()).p4runtime_api_version


@SETTINGS
@given(st.sampled_from(METHODS), st.binary(max_size=200))
def test_random_bytes_to_any_method(target: RawTarget, method: str, data: bytes) -> None:
    _baseline(target)
    before = _held(target)
    stream = method == "Read"
    call = (target.channel.unary_stream if stream else target.channel.unary_unary)(
        f"/p4.v1.P4Runtime/{method}", request_serializer=None, response_deserializer=None)
    try:
        got = call(data)
        if stream:
            list(got)
        code = "OK"
    except grpc.RpcError as exc:
        code = exc.code().name
    event(f"{method}: {code}")
    assert code in SPEC_CODES | {"UNKNOWN"}
    if code == "UNKNOWN":
        assert method == "Write"  # a batch with per-update errors: accounted below
    _alive(target)
    if method in ("Write", "SetForwardingPipelineConfig") and code == "OK":
        return  # random bytes that are a valid request did what they say
    if method != "Write" or code not in ("OK", "UNKNOWN"):
        assert _held(target) == before


@SETTINGS
@given(st.one_of(w.mutated_bytes(SCHEMA, header=(1, ELECTION)),
                 w.mutated_trees(SCHEMA, header=(1, ELECTION)),
                 w.write_requests(SCHEMA, 8, (1, ELECTION)).map(lambda r: r.SerializeToString())))
@example(PRESET_COUNTER)
def test_mutated_writes_change_exactly_what_they_say(target: RawTarget, data: bytes) -> None:
    _baseline(target)
    state = _held(target)
    code, _, errors = target.write(data)
    _alive(target)
    event(code)
    assert code in SPEC_CODES | {"UNKNOWN"}, code
    if code not in ("OK", "UNKNOWN"):
        assert _held(target) == state  # refused whole: nothing changed
        return
    req = p4r.WriteRequest.FromString(data)  # the server took it: so does protobuf
    if code == "UNKNOWN":
        assert len(errors) == len(req.updates)
        assert all(rpc_code.Code.Name(c) in SPEC_CODES | {"ABORTED"} for c, _ in errors)
    applied = [u for i, u in enumerate(req.updates)
               if code == "OK" or errors[i][0] == rpc_code.OK]
    event(f"{len(applied)} updates applied")
    for u in applied:
        _account(state, u.entity, u.type)
    assert _held(target) == state
