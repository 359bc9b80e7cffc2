"""The Write decoder: C equals the protobuf reference on every request (random,
re-encoded, broken), its verdicts are parse_update()'s codes, and requests from our
encoder and from p4runtime-shell decode to the entries they were made of."""

from __future__ import annotations

import dataclasses
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctrl.fastpath import (
    Backend,
    CompiledSchema,
    FastPathError,
    MalformedWriteError,
    UnsupportedWriteError,
    Verdict,
    WriteBatch,
    WriteDecodeError,
    WriteDecoder,
    decode_write,
    native_available,
)
from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.p4rt.entity import TableEntry, delete, insert, modify
from ctrl.p4rt.proto import p4r, rpc_code
from ctrl.p4rt.schema import P4Schema
from ctrl.targets.ovs.validate import Rejected, parse_update
from tests import p4shell
from tests.p4rt import wire_cases as w

needs_c = pytest.mark.skipif(not native_available(), reason="the C fast path is not built here")
SCHEMA = P4Schema.load(BuildPaths(project_root()).p4info)
COMPILED = CompiledSchema.from_p4schema(SCHEMA)
BRIDGING = SCHEMA.tables["bridging"]
SLOW = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Outcome = WriteBatch | type[WriteDecodeError]


def _decode(data: bytes, backend: Backend) -> Outcome:
    try:
        return decode_write(data, COMPILED, backend=backend)
    except WriteDecodeError as exc:
        return type(exc)


def _parses(batch: WriteBatch, i: int) -> bool:
    try:
        batch.update_message(i)
    except MalformedWriteError:
        return False
    return True


def _code(update: p4r.Update) -> int:
    try:
        parse_update(update, SCHEMA)
    except Rejected as exc:
        return exc.code
    return int(rpc_code.OK)


def check(data: bytes, backends: tuple[Backend, ...] = (Backend.NATIVE, Backend.REFERENCE)
          ) -> WriteBatch | None:
    """C and the reference say the same of `data`, and what validate.py says.

    Bytes protobuf refuses are refused by C too, or sit in a slow update that protobuf
    then refuses; a request C refuses as malformed, protobuf refuses. Where C leaves a
    request to protobuf (unsupported) nothing more is asked."""
    c, ref = (_decode(data, b) for b in backends) if len(backends) == 2 else (
        _decode(data, backends[0]),) * 2
    if c is UnsupportedWriteError:
        return None
    if c is MalformedWriteError or ref is UnsupportedWriteError:
        assert ref is c
        return None
    assert isinstance(c, WriteBatch)
    if ref is MalformedWriteError:
        assert not all(_parses(c, i) for i in c.slow_indexes()), "protobuf refuses it, C not"
        return None
    assert c == ref
    req = p4r.WriteRequest.FromString(data)
    assert len(c) == len(req.updates)
    for u in c.fast_updates():
        verdict = c.verdict(u.position)
        assert verdict is not None and verdict.code == _code(req.updates[u.position])
        if verdict is Verdict.OK:
            assert COMPILED.table_entry(u) == parse_update(req.updates[u.position],
                                                           SCHEMA).entity
    for i in c.slow_indexes():
        assert c.update_message(i) == req.updates[i]
    return c


# C == reference == validate.py


@needs_c
@SLOW
@given(w.write_requests(SCHEMA))
def test_generated_requests(req: p4r.WriteRequest) -> None:
    batch = check(req.SerializeToString())
    assert batch is not None and len(batch) == len(req.updates)


@needs_c
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(w.mutated_trees(SCHEMA))
def test_re_encoded_requests(data: bytes) -> None:
    check(data)


@needs_c
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(w.mutated_bytes(SCHEMA))
def test_broken_bytes(data: bytes) -> None:
    check(data)


@needs_c
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    check(data)


@needs_c
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(w.write_requests(SCHEMA, max_updates=3))
def test_every_cut_of_a_request(req: p4r.WriteRequest) -> None:
    data = req.SerializeToString()
    for i in range(len(data) + 1):
        check(data[:i])


@pytest.mark.parametrize("backend", [pytest.param(Backend.NATIVE, marks=needs_c),
                                     Backend.REFERENCE])
def test_each_backend_alone_agrees_with_validate(backend: Backend) -> None:
    for req in [_bridging(n) for n in range(0, 40, 7)] + [
            p4r.WriteRequest(updates=list(VERDICTS.values()))]:
        check(req.SerializeToString(), (backend,))


# Entries from our encoder and from p4runtime-shell


def _entries(n: int) -> list[TableEntry]:
    return [TableEntry("bridging", {"vnet_id": 1 + i % 4000, "eth_dst": 0x020000000000 + i},
                       "bridging.forward", {"port": 1 + i % 8}) for i in range(n)]


def _bridging(n: int) -> p4r.WriteRequest:
    req = p4r.WriteRequest(device_id=1, election_id=p4r.Uint128(low=1))
    es = _entries(n)
    req.updates.extend([insert(e).encode(SCHEMA) for e in es]
                       + [modify(e).encode(SCHEMA) for e in es[:2]]
                       + [delete(e).encode(SCHEMA) for e in es[:1]])
    return req


def test_our_encoder_decodes_to_its_entries() -> None:
    entries = [
        *_entries(50),
        TableEntry("routing_v4", {"vnet_id": 7, "ipv4_dst": 0x0A000001}, "routing_v4.route",
                   {"src_mac": 0x020000000001, "dst_mac": 0x020000000002}),
        TableEntry("tunnel_encap", {"tunnel_id": 3}, "tunnel_encap.encap_gre",
                   {"src_addr": 1, "dst_addr": 2}),
        TableEntry("ingress_port", {"ingress_port": 5}, "ingress_port.set_access", {"vnet_id": 9}),
    ]
    req = p4r.WriteRequest(device_id=4, role="ctl", election_id=p4r.Uint128(high=1, low=2))
    req.updates.extend(insert(e).encode(SCHEMA) for e in entries)
    batch = check(req.SerializeToString())
    batch = batch or decode_write(req.SerializeToString(), COMPILED)
    assert batch.n_slow == 0 and batch.refused() == []
    assert [COMPILED.table_entry(u) for u in batch.fast_updates()] == entries
    assert (batch.header.device_id, batch.header.role) == (4, "ctl")
    assert batch.header.election_id == (1 << 64) + 2 and batch.header.has_election_id


def test_p4runtime_shell_messages_decode_to_the_same_entries() -> None:
    """The shell's messages (made in its own virtualenv, on protobuf 3.20) read as ours."""
    python = p4shell.shell_python()
    if python is None:
        pytest.skip("no p4runtime-shell virtualenv: `./run setup` makes .venv-p4shell")
    ours = _entries(20)
    # The shell keeps the order its fields are set in: every other entry swaps them.
    with p4shell.Shell(python, BuildPaths(project_root())) as shell:
        data = bytes.fromhex(shell.call("messages", entries=p4shell.triples(ours),
                                        swap=[i % 2 == 1 for i in range(len(ours))]))
    for backend in (Backend.AUTO, Backend.REFERENCE):
        batch = decode_write(data, COMPILED, backend=backend)
        assert batch.n_slow == 0
        got = [COMPILED.table_entry(u) for u in batch.fast_updates()]
        assert [(g.table, dict(g.match), g.action, dict(g.params)) for g in got] == [
            (e.table, dict(e.match), e.action, dict(e.params)) for e in ours]
    check(data)


# Verdicts, one of each


FORWARD = SCHEMA.actions["bridging.forward"].id


def _update(kind: int = p4r.Update.INSERT, *, table_id: int = BRIDGING.id,
            match: w.Pairs = ((1, b"\x01"), (2, bytes(6))), action_id: int | None = FORWARD,
            params: w.Pairs = ((1, b"\x03"),), priority: int = 0, is_default: bool = False
            ) -> p4r.Update:
    """A bridging entry, or what each argument makes of it."""
    te = w.entry(table_id, match, action_id, params, priority=priority, is_default=is_default)
    return p4r.Update(type=cast("p4r.Update.Type", kind), entity=p4r.Entity(table_entry=te))


VERDICTS = {
    Verdict.OK: _update(),
    Verdict.BAD_TYPE: _update(p4r.Update.UNSPECIFIED),
    Verdict.UNKNOWN_TABLE: _update(table_id=1),
    Verdict.DEFAULT_NOT_MODIFY: _update(is_default=True, match=()),
    Verdict.DEFAULT_HAS_MATCH: _update(p4r.Update.MODIFY, is_default=True),
    Verdict.CONST_DEFAULT: _update(p4r.Update.MODIFY, is_default=True, match=()),
    Verdict.PRIORITY: _update(priority=-5),
    Verdict.UNKNOWN_FIELD: _update(match=((1, b"\x01"), (9, b"\x01"))),
    Verdict.DUPLICATE_FIELD: _update(match=((1, b"\x01"), (1, b"\x02"))),
    Verdict.EMPTY_VALUE: _update(match=((1, b""), (2, b"\x01"))),
    Verdict.FIELD_TOO_WIDE: _update(match=((1, b"\x10\x00"), (2, b"\x01"))),
    Verdict.MISSING_FIELD: _update(match=((2, b"\x01"),)),
    Verdict.NO_ACTION: _update(action_id=None),
    Verdict.UNKNOWN_ACTION: _update(action_id=5),
    Verdict.ACTION_NOT_IN_TABLE: _update(action_id=SCHEMA.actions["routing_v4.route"].id),
    Verdict.UNKNOWN_PARAM: _update(params=((1, b"\x01"), (7, b"\x01"))),
    Verdict.DUPLICATE_PARAM: _update(params=((1, b"\x01"), (1, b"\x01"))),
    Verdict.EMPTY_PARAM: _update(params=((1, b""),)),
    Verdict.PARAM_TOO_WIDE: _update(params=((1, b"\x02\x00"),)),
    Verdict.MISSING_PARAM: _update(params=()),
}


@pytest.mark.parametrize("backend", [pytest.param(Backend.NATIVE, marks=needs_c),
                                     Backend.REFERENCE])
def test_one_update_of_each_verdict(backend: Backend) -> None:
    req = p4r.WriteRequest(updates=list(VERDICTS.values()))
    batch = decode_write(req.SerializeToString(), COMPILED, backend=backend)
    assert [batch.verdict(i) for i in range(len(batch))] == list(VERDICTS)
    assert batch.refused() == list(range(1, len(VERDICTS)))
    for i, verdict in enumerate(VERDICTS):
        assert verdict.code == _code(req.updates[i])
    check(req.SerializeToString())


@pytest.mark.parametrize("backend", [pytest.param(Backend.NATIVE, marks=needs_c),
                                     Backend.REFERENCE])
def test_an_exact_match_on_a_ternary_field(backend: Backend) -> None:
    text = BuildPaths(project_root()).p4info.read_text()
    at = text.index('name: "eth_dst"', text.index('name: "bridging"'))
    ternary = P4Schema.from_text(text[:at] + text[at:].replace("EXACT", "TERNARY", 1))
    assert ternary.tables["bridging"].match_fields["eth_dst"].kind.name == "TERNARY"
    update = _update()
    batch = decode_write(p4r.WriteRequest(updates=[update]).SerializeToString(),
                         CompiledSchema.from_p4schema(ternary), backend=backend)
    assert batch.verdict(0) is Verdict.NOT_EXACT
    with pytest.raises(Rejected) as exc:
        parse_update(update, ternary)
    assert exc.value.code == Verdict.NOT_EXACT.code


def test_a_deleted_entry_needs_no_action_and_delete_is_still_checked() -> None:
    req = p4r.WriteRequest(updates=[_update(p4r.Update.DELETE, action_id=None),
                                    _update(p4r.Update.DELETE, match=((2, b"\x01"),))])
    batch = decode_write(req.SerializeToString(), COMPILED)
    assert [batch.verdict(0), batch.verdict(1)] == [Verdict.OK, Verdict.MISSING_FIELD]


# Slow updates, refused and unsupported requests


@pytest.mark.parametrize("kind", w.SLOW_KINDS)
def test_what_the_fast_path_leaves_to_protobuf(kind: str) -> None:
    slow = p4r.Update(type=p4r.Update.INSERT,
                      entity=w._slow_entity(kind, _update().entity.table_entry))
    req = p4r.WriteRequest(updates=[_update(), slow, _update()])
    batch = check(req.SerializeToString()) or decode_write(req.SerializeToString(), COMPILED)
    assert batch.slow_indexes() == [1] and batch.verdict(1) is None
    assert batch.update_message(1) == slow and batch.is_fast(0) and batch.is_fast(2)


RAW_SLOW = {  # one update each, on the wire
    "unknown field": bytes.fromhex("0801") + bytes.fromhex("1200") + bytes.fromhex("f80101"),
    "fields out of order": bytes.fromhex("1200") + bytes.fromhex("0801"),
    "zero written": bytes.fromhex("0800") + bytes.fromhex("1200"),
    "padded type": bytes.fromhex("088100") + bytes.fromhex("1200"),
    "type 7": bytes.fromhex("0807") + bytes.fromhex("1200"),
    "no entity": bytes.fromhex("0801"),
    "empty entity": bytes.fromhex("08011200"),
    "entity twice": bytes.fromhex("0801") + bytes.fromhex("12021200") * 2,
}


@pytest.mark.parametrize("name", RAW_SLOW)
def test_non_canonical_updates_are_slow(name: str) -> None:
    body = RAW_SLOW[name]
    data = bytes([0x22, len(body)]) + body
    batch = check(data) or decode_write(data, COMPILED)
    assert batch.slow_indexes() == [0]


MALFORMED = {
    "cut in a varint": bytes.fromhex("08ff"),
    "cut in an update": bytes.fromhex("2205") + b"\x08\x01",
    "field number 0": bytes.fromhex("0001"),
    "wire type 7": bytes.fromhex("0f"),
    "end group": bytes.fromhex("0c"),
    "varint of 11 bytes": bytes.fromhex("08") + b"\xff" * 10 + b"\x01",
    "role not UTF-8": bytes.fromhex("3202c328"),
    "update cut inside": bytes.fromhex("2204") + bytes.fromhex("0801") + bytes.fromhex("1205"),
}


@pytest.mark.parametrize("backend", [pytest.param(Backend.NATIVE, marks=needs_c),
                                     Backend.REFERENCE])
@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_requests(backend: Backend, name: str) -> None:
    with pytest.raises(MalformedWriteError):
        decode_write(MALFORMED[name], COMPILED, backend=backend)


@pytest.mark.parametrize("backend", [pytest.param(Backend.NATIVE, marks=needs_c),
                                     Backend.REFERENCE])
def test_a_group_in_the_request_is_left_to_protobuf(backend: Backend) -> None:
    data = bytes.fromhex("0801") + bytes.fromhex("3b") + bytes.fromhex("0801") + b"\x3c"
    p4r.WriteRequest.FromString(data)  # protobuf takes it
    with pytest.raises(UnsupportedWriteError):
        decode_write(data, COMPILED, backend=backend)


# The request's own fields, as protobuf reads them


HEADERS = {
    "last device id wins": bytes.fromhex("0801") + bytes.fromhex("0802"),
    "election ids merge": bytes.fromhex("1a020801") + bytes.fromhex("1a021002"),
    "atomicity 7 is kept": bytes.fromhex("2807"),
    "atomicity -1": bytes.fromhex("28ffffffffffffffffff01"),
    "atomicity over 32 bits": bytes.fromhex("28818080801f"),
    "unknown fields": bytes.fromhex("4001") + bytes.fromhex("f8ff0105")
    + bytes.fromhex("090102030405060708"),
    "updates of another wire type": bytes.fromhex("2001"),
    # upb reads a tag as a varint: a padded 0x22 is an update too (pure-Python protobuf
    # took it for an unknown field).
    "updates under a padded tag": bytes.fromhex("a200020801") + bytes.fromhex("2200"),
    "role twice, then empty": bytes.fromhex("3201") + b"a" + bytes.fromhex("3200"),
    "10-byte device id": bytes.fromhex("08ffffffffffffffffff7f"),
}


@pytest.mark.parametrize("name", HEADERS)
def test_request_fields_as_protobuf_reads_them(name: str) -> None:
    data = HEADERS[name]
    want = p4r.WriteRequest.FromString(data)
    for backend in ([Backend.NATIVE] if native_available() else []) + [Backend.REFERENCE]:
        h = decode_write(data, COMPILED, backend=backend).header
        assert (h.device_id, h.role_id, h.role, h.atomicity, h.has_election_id) == (
            want.device_id, want.role_id, want.role, want.atomicity,
            want.HasField("election_id"))
        assert h.election_id == want.election_id.high << 64 | want.election_id.low
        assert len(decode_write(data, COMPILED, backend=backend)) == len(want.updates)
    check(data)


# The wrapper


@needs_c
def test_more_matches_than_the_first_guess_and_one_decoder_for_many_requests() -> None:
    wide = _update(match=((1, b"\x01"),) * 40 + ((2, b"\x01"),))
    small = p4r.WriteRequest(updates=[_update()]).SerializeToString()
    big = p4r.WriteRequest(updates=[wide] * 30 + [_update()]).SerializeToString()
    decoder = WriteDecoder(COMPILED, Backend.NATIVE)
    for data in (small, big, small, big * 3, small):
        assert decoder.decode(data) == decode_write(data, COMPILED, backend=Backend.REFERENCE)
    assert decoder.decode(big).verdict(0) is Verdict.DUPLICATE_FIELD


def test_no_schema_no_verdicts() -> None:
    data = _bridging(3).SerializeToString()
    for backend in ([Backend.NATIVE] if native_available() else []) + [Backend.REFERENCE]:
        batch = decode_write(data, None, backend=backend)
        assert batch.n_slow == 0 and {batch.verdict(i) for i in range(len(batch))} == {None}


def test_arguments_it_refuses() -> None:
    with pytest.raises(WriteDecodeError):
        decode_write(bytearray(b"\x08\x01"), COMPILED)  # type: ignore[arg-type]


@needs_c
def test_a_schema_whose_arrays_do_not_hold_together() -> None:
    unsorted = dataclasses.replace(COMPILED, table_id=COMPILED.table_id[::-1])
    with pytest.raises(FastPathError):
        WriteDecoder(unsorted, Backend.NATIVE)
    short = dataclasses.replace(COMPILED, table_field_first=COMPILED.table_field_first[:-1])
    with pytest.raises(FastPathError):
        WriteDecoder(short, Backend.NATIVE)


def test_an_empty_request() -> None:
    for backend in ([Backend.NATIVE] if native_available() else []) + [Backend.REFERENCE]:
        batch = decode_write(b"", COMPILED, backend=backend)
        assert len(batch) == 0 and batch.header.device_id == 0
        assert list(batch.fast_updates()) == []


@needs_c
def test_the_decoder_owns_every_array_it_hands_to_c() -> None:
    """Each array C writes into is held by its owning cdata (a bare pointer would let
    cffi free it while C still writes there: the `seen` stamps once did)."""
    from ctrl.fastpath.native import load
    from ctrl.fastpath.p4rt import _Arrays

    native = load()
    assert native is not None
    arrays = _Arrays.make(native, 4, 8, 4, len(COMPILED.field_id) + len(COMPILED.param_id))
    assert all(native.ffi.typeof(buf).kind == "array" for buf in arrays.keep)
    assert native.ffi.cast("uintptr_t", arrays.cols.seen) == native.ffi.cast(
        "uintptr_t", arrays.keep[-1])
