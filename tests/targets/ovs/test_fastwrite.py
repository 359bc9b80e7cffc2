"""Writes as bytes (ctrl/targets/ovs/fastwrite.py): what the C decoder's path says of every update,
and what the store makes of it, is what protobuf and validate.py say, on requests good,
faulty, re-encoded and broken."""

from __future__ import annotations

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctrl.fastpath import WriteDecodeError, native_available
from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.p4rt.entity import TableEntry, insert
from ctrl.p4rt.proto import p4r
from ctrl.p4rt.schema import P4Schema
from ctrl.targets.ovs.fastwrite import DecodedWrite, Result, WriteParser, parse_request
from ctrl.targets.ovs.flows import Message
from ctrl.targets.ovs.ofcodec import encode_message
from ctrl.targets.ovs.store import EntryStore
from ctrl.targets.ovs.validate import Parsed, Rejected
from tests.p4rt import wire_cases as w

pytestmark = pytest.mark.skipif(not native_available(), reason="the C fast path is not built")
SCHEMA = P4Schema.load(BuildPaths(project_root()).p4info)
PARSER = WriteParser(SCHEMA) if native_available() else None
MANY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _same(a: Result, b: Result) -> bool:
    if isinstance(a, Rejected) or isinstance(b, Rejected):
        return (isinstance(a, Rejected) and isinstance(b, Rejected)
                and (a.code, a.message) == (b.code, b.message))
    return a == b


def both(data: bytes) -> tuple[list[Result] | type[Exception], list[Result] | type[Exception]]:
    """(the bytes path, the protobuf path): results, or the exception class raised."""
    assert PARSER is not None

    def fast() -> list[Result]:
        try:
            request: p4r.WriteRequest | DecodedWrite = DecodedWrite.of(
                data, PARSER.decode(data), PARSER)
        except WriteDecodeError:  # the server takes protobuf's parse then
            request = p4r.WriteRequest.FromString(data)
        return parse_request(request, SCHEMA, PARSER)

    out: list[list[Result] | type[Exception]] = []
    for run in (fast, lambda: parse_request(p4r.WriteRequest.FromString(data), SCHEMA)):
        try:
            out.append(run())
        except (DecodeError, UnicodeDecodeError, RecursionError) as exc:  # protobuf's
            out.append(type(exc))
    return out[0], out[1]


def check(data: bytes) -> list[Result] | None:
    fast, slow = both(data)
    if not isinstance(fast, list) or not isinstance(slow, list):
        assert fast is slow
        return None
    assert len(fast) == len(slow)
    assert all(_same(a, b) for a, b in zip(fast, slow, strict=True)), (fast, slow)
    return fast


@MANY
@given(w.write_requests(SCHEMA))
def test_generated_requests(req: p4r.WriteRequest) -> None:
    assert check(req.SerializeToString()) is not None


@MANY
@given(w.mutated_trees(SCHEMA))
def test_re_encoded_requests(data: bytes) -> None:
    check(data)


@MANY
@given(w.mutated_bytes(SCHEMA))
def test_broken_bytes(data: bytes) -> None:
    check(data)


def _bytes(m: Message) -> bytes:
    return encode_message(m, 0)


def _store() -> EntryStore:
    """A store holding a few entries already, so that inserts collide and deletes find."""
    store = EntryStore(SCHEMA)
    held = [TableEntry("bridging", {"vnet_id": v, "eth_dst": 0x0200_0000_0000 + v},
                       "bridging.forward", {"port": v % 8}) for v in range(1, 6)]
    plan = store.plan_updates([insert(e).encode(SCHEMA) for e in held])
    assert plan.ok
    plan.commit()
    return store


def _state(store: EntryStore) -> tuple[object, ...]:
    return (sorted((k, s.entry, s.cookie) for k, s in store.entries.items()),
            sorted(store.groups.items()), sorted(store.ovs_groups),
            sorted(store.table_counts.items()), store.next_cookie)


@MANY
@given(w.write_requests(SCHEMA, max_updates=12), st.booleans())
def test_the_store_plans_the_same(req: p4r.WriteRequest, rollback: bool) -> None:
    """Statuses, messages and the store after commit: the same down either path."""
    fast, slow = both(req.SerializeToString())
    assert isinstance(fast, list) and isinstance(slow, list)
    plans = []
    for results in (fast, slow):
        store = _store()
        plan = store.plan(results, rollback)
        plan.commit()
        plans.append((plan.statuses, [_bytes(m) for m in plan.messages], _state(store)))
    assert plans[0] == plans[1]


def test_a_clean_batch_is_all_fast() -> None:
    """Our own encoder's bridging inserts: every update from the columns, none refused."""
    assert PARSER is not None
    entries = [TableEntry("bridging", {"vnet_id": 1 + i, "eth_dst": 0x0200_0000_0000 + i},
                          "bridging.forward", {"port": i % 8}) for i in range(50)]
    req = p4r.WriteRequest(device_id=1, updates=[insert(e).encode(SCHEMA) for e in entries])
    batch = PARSER.decode(req.SerializeToString())
    assert batch.n_slow == 0 and batch.refused() == []
    got = PARSER.parse(batch)
    assert got == [Parsed(p4r.Update.INSERT, e) for e in entries]


def test_no_parser_where_c_does_not_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the C decoder, Writes stay on protobuf (its reference would be slower)."""
    import ctrl.targets.ovs.fastwrite as fastwrite

    monkeypatch.setattr(fastwrite, "native_decoder", lambda: False)
    assert WriteParser.make(SCHEMA) is None
