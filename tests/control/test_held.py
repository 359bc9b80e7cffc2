"""A switch read back as bytes and decoded by C (ctrl/control/held.py) gives exactly the
entities the protobuf path gives, against the Open vSwitch target and the sink target."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ctrl.control.diff import diff, same
from ctrl.control.held import HeldReader, _as_updates
from ctrl.control.readback import looked_at, read_rows, row_of
from ctrl.control.session import read_state
from ctrl.control.topology import PortRef, Switch, Topology
from ctrl.p4rt.build import BuildPaths
from ctrl.p4rt.client import P4Client
from ctrl.p4rt.entity import Entity, MulticastGroupEntry, TableEntry, insert
from ctrl.p4rt.proto import p4r
from ctrl.p4rt.schema import P4Schema
from ctrl.targets.bmv2 import free_tcp_port
from ctrl.targets.sink.server import Sink, serve
from tests.packet.ovs_target import one_bridge_server


def _entries(n: int) -> list[Entity]:
    out: list[Entity] = []
    for i in range(n):
        out.append(TableEntry("bridging", {"vnet_id": 10 + i % 3, "eth_dst": 0x020000000000 + i},
                              "bridging.forward", {"port": 1 + i % 7}))
        out.append(TableEntry("routing_v4", {"vnet_id": 10, "ipv4_dst": 0x0A000000 + i},
                              "routing_v4.route", {"src_mac": 0x020000000001,
                                                   "dst_mac": 0x020000000000 + i}))
    out += [TableEntry("ingress_port", {"ingress_port": 3}, "ingress_port.set_access",
                       {"vnet_id": 10}),
            TableEntry("bridging", {"vnet_id": 10, "eth_dst": 0x02AA00000001},
                       "bridging.flood", {"group": 7}),
            TableEntry("bridging", {"vnet_id": 10, "eth_dst": 0x02AA00000002}, "bridging.to_cpu"),
            MulticastGroupEntry.of_ports(7, [1, 3])]
    return out


Target = tuple[str, asyncio.AbstractEventLoop]   # its address, and the loop to talk to it in


@pytest.fixture(params=["ovs", "sink"])
def target(request: pytest.FixtureRequest, tmp_path: Path, schema: P4Schema
           ) -> Iterator[Target]:
    loop = asyncio.new_event_loop()
    try:
        if request.param == "ovs":
            with one_bridge_server(tmp_path, schema, "held") as address:
                yield address, loop
            return
        address = f"127.0.0.1:{free_tcp_port()}"   # the sink serves in the test's loop
        topo = Topology(("default",), {"s1": Switch("s1", "default", 1, address)}, (), {}, {},
                        {})
        server, _ = loop.run_until_complete(serve(Sink(topo), schema))
        try:
            yield address, loop
        finally:
            loop.run_until_complete(server.stop(0))
    finally:
        loop.close()


@contextlib.asynccontextmanager
async def client(address: str, schema: P4Schema, config: bytes) -> AsyncIterator[P4Client]:
    async with P4Client(address, 1, (0, 1)) as c:
        await c.set_pipeline(schema, config)
        yield c


def test_read_back_as_bytes_equals_the_protobuf_path(target: Target, schema: P4Schema,
                                                    build_paths: BuildPaths) -> None:
    address, loop = target

    async def body() -> None:
        async with client(address, schema, build_paths.json.read_bytes()) as c:
            written = _entries(300)
            await c.write([insert(e) for e in written])
            held = await HeldReader(schema).read(c)
            fast = {e.key(): e for e in held.entities()}
            slow = {e.key(): e for e in await read_state(c, schema)}
            assert fast == slow and len(held) == len(slow) == len(written)

    loop.run_until_complete(body())


def test_bytes_that_are_no_read_response_are_refused() -> None:
    assert _as_updates([b""]) == (b"", 0)
    with pytest.raises(ValueError, match="wire type 0"):
        _as_updates([b"\x08\x01"])


def test_read_responses_become_one_write_request_of_their_entities() -> None:
    """Entities short and long (a one-byte size and several), in several responses, with
    another field between them: one Update each, in order, each holding its entity."""
    responses = []
    sizes = [0, 1, 70, 127, 128, 300, 20_000]
    for chunk in (sizes[:4], sizes[4:]):
        r = p4r.ReadResponse()
        for n in chunk:
            r.entities.add().table_entry.match.add().exact.value = b"\x07" * n
        responses.append(r.SerializeToString() + b"\x12\x03abc")   # field 2: skipped
    data, count = _as_updates(responses)
    request = p4r.WriteRequest.FromString(data)
    assert count == len(request.updates) == len(sizes)
    assert [u.entity.table_entry.match[0].exact.value for u in request.updates] == [
        b"\x07" * n for n in sizes]
    assert _as_updates([]) == (b"", 0)


def test_one_reader_serves_every_switch_each_taken_whole(target: Target, schema: P4Schema,
                                                          build_paths: BuildPaths) -> None:
    """A controller's switches share one reader (one C decoder's memory): each switch's
    entities come out right whatever was decoded before, and one left half-read while
    another's are decoded refuses to go on rather than give the other's entries."""
    address, loop = target

    async def body() -> None:
        async with client(address, schema, build_paths.json.read_bytes()) as c:
            reader = HeldReader(schema)
            first = _entries(50)
            await c.write([insert(e) for e in first])
            small = await reader.read(c)
            more = [TableEntry("bridging", {"vnet_id": 11, "eth_dst": 0x020100000000 + i},
                               "bridging.forward", {"port": 2}) for i in range(400)]
            await c.write([insert(e) for e in more])
            big = await reader.read(c)
            want_small = {e.key() for e in first}
            want_big = want_small | {e.key() for e in more}
            for _ in range(2):   # in turn, either order: each its own
                assert {e.key() for e in big.entities()} == want_big
                assert {e.key() for e in small.entities()} == want_small
            half = big.entities()
            next(half)
            assert {e.key() for e in small.entities()} == want_small
            with pytest.raises(RuntimeError, match="whole"):
                list(half)

    loop.run_until_complete(body())


def _changed(written: list[Entity]) -> list[Entity]:
    """What a controller might want instead: some entries kept, some with other actions or
    parameters, some gone, some new, a group with other ports, a duplicate key."""
    out: list[Entity] = []
    for i, e in enumerate(written):
        if isinstance(e, TableEntry) and e.table == "bridging" and i % 5 == 1:
            out.append(TableEntry("bridging", dict(e.match), "bridging.forward", {"port": 9}))
        elif isinstance(e, TableEntry) and e.table == "bridging" and i % 5 == 3:
            out.append(TableEntry("bridging", dict(e.match), "bridging.to_cpu"))
        elif isinstance(e, MulticastGroupEntry):
            out.append(MulticastGroupEntry.of_ports(e.group_id, [3, 1, 4]))
        elif i % 7 != 2:
            out.append(e)
    out += [TableEntry("bridging", {"vnet_id": 12, "eth_dst": 0x02BB00000000 + i},
                       "bridging.forward", {"port": 2}) for i in range(20)]
    out += [TableEntry("bridging", {"vnet_id": 12, "eth_dst": 0x02BB00000001},
                       "bridging.forward", {"port": 3}),   # the same key again: the last
            MulticastGroupEntry.of_ports(8, [2])]
    return out


def test_a_diff_by_compact_keys_is_the_diff_of_the_entities(
        target: Target, schema: P4Schema, build_paths: BuildPaths) -> None:
    """Held.diff (compact keys and values from the decoder's columns) gives exactly the
    updates, in the same order, that diff() of the entities read gives; and rows() says
    what the entities say."""
    address, loop = target

    async def body() -> None:
        async with client(address, schema, build_paths.json.read_bytes()) as c:
            written = _entries(200)
            await c.write([insert(e) for e in written])
            reader = HeldReader(schema)
            held = await reader.read(c)
            entities = list(held.entities())
            rows = [row_of(e) for e in entities if isinstance(e, TableEntry)]
            assert sorted(map(str, held.rows())) == sorted(map(str, rows))
            # `only`: the forwarding to other ports left out, and nothing else
            only = {"bridging.forward": ("port", {1, 3})}
            kept = [r for r in rows if r[1] != "bridging.forward" or r[3]["port"] in {1, 3}]
            assert sorted(map(str, held.rows(only))) == sorted(map(str, kept))
            assert 0 < len(kept) < len(rows)
            # what the read-back says of the hosts is the same with them left out
            groups = [e for e in entities if isinstance(e, MulticastGroupEntry)]
            edges = {PortRef("s1", 1), PortRef("s1", 3), PortRef("s2", 2)}
            assert read_rows("s1", held.rows(looked_at("s1", edges)), groups, edges) == \
                read_rows("s1", held.rows(), groups, edges)
            assert read_rows("s1", held.rows(), groups, edges).at
            for wanted in (written, _changed(written), [], list(reversed(written))):
                assert held.diff(wanted) == diff(wanted, entities)
            assert len(held.diff(_changed(written))) > 100

    loop.run_until_complete(body())


def test_compact_keys_and_values_are_equal_where_keys_and_entries_are(schema: P4Schema) -> None:
    reader = HeldReader(schema)
    entries = _entries(3) + _changed(_entries(3)) + [
        TableEntry("bridging", {"vnet_id": 10}, "bridging.forward", {"port": 1}),   # partial
        TableEntry("bridging", {"vnet_id": 10, "eth_dst": 0x020000000000},
                   "bridging.forward", {}),                               # no parameter
        TableEntry("bridging", {"vnet_id": 10, "eth_dst": 0x020000000000}, "bridging.to_cpu"),
        TableEntry("bridging", is_default=True, action="bridging.to_cpu")]
    for a in entries:
        for b in entries:
            (ka, va), (kb, vb) = reader.compact(a), reader.compact(b)
            assert (ka == kb) == (a.key() == b.key()), (a, b)
            if ka == kb and va is not None and vb is not None:
                assert (va == vb) == same(a, b), (a, b)
