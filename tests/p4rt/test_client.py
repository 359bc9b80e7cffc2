"""P4Client against the real targets here (the Open vSwitch target, bmv2 where installed):
writes go as the encoder's bytes (ctrl/p4rt/wire.py), read back equal, and a refused batch
gives the per-update errors protobuf's messages got before, update for update."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence

import grpc
import pytest

from ctrl.errors import MobilityError
from ctrl.p4rt.build import BuildPaths
from ctrl.p4rt.client import P4Client
from ctrl.p4rt.entity import (
    Entity,
    MulticastGroupEntry,
    TableEntry,
    Update,
    delete,
    insert,
    modify,
)
from ctrl.p4rt.errors import P4RuntimeError
from ctrl.p4rt.proto import p4r, rpc_code
from ctrl.p4rt.schema import P4Schema
from ctrl.targets.bmv2 import Bmv2Switch, find_simple_switch_grpc
from tests.packet.ovs_target import one_bridge_server

Address = tuple[str, int]  # gRPC address, device id


@pytest.fixture(scope="module", params=["ovs", "bmv2"])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           schema: P4Schema) -> Iterator[Address]:
    if request.param == "bmv2":
        if find_simple_switch_grpc() is None:
            pytest.skip("bmv2 simple_switch_grpc is not on PATH")
        sw = Bmv2Switch({}, device_id=1, log_file=tmp_path_factory.mktemp("bmv2") / "bmv2.log")
        sw.start()
        try:
            yield sw.grpc_addr, 1
        finally:
            sw.stop()
        return
    with one_bridge_server(tmp_path_factory.mktemp("ovs"), schema, "pcl") as address:
        yield address, 1


def run(target: Address, schema: P4Schema, paths: BuildPaths,
        body: Callable[[P4Client], Awaitable[None]], election: int = 7) -> None:
    """`body` with a primary client whose pipeline is mobility.p4, the switch emptied."""
    async def main() -> None:
        async with P4Client(target[0], target[1], election_id=(0, election)) as client:
            assert client.is_primary
            await client.set_pipeline(schema, paths.json.read_bytes())
            await clear(client)
            await body(client)
            await clear(client)
    asyncio.run(main())


async def state(client: P4Client) -> list[Entity]:
    """Every entry but the default ones, then every group, each in one order."""
    assert client.schema is not None
    out: list[Entity] = []
    for table in client.schema.tables:
        out += [e for e in await client.read_table(table.name)
                if isinstance(e, TableEntry) and not e.is_default]
    return sorted(out, key=repr) + sorted(await client.read_multicast_groups(), key=repr)


def ordered(entities: Iterable[Entity]) -> list[Entity]:
    """As state() orders them."""
    groups = [e for e in entities if isinstance(e, MulticastGroupEntry)]
    return sorted((e for e in entities if isinstance(e, TableEntry)), key=repr) + sorted(
        groups, key=repr)


async def clear(client: P4Client) -> None:
    if held := await state(client):
        await client.write([delete(e) for e in held])


def fwd(mac: int, port: int = 1, vnet: int = 10) -> TableEntry:
    return TableEntry("bridging", {"vnet_id": vnet, "eth_dst": mac}, "bridging.forward",
                      {"port": port})


def one_of_each() -> list[TableEntry]:
    """An entry of every table with every action its entries may have, values at the edges
    of their widths."""
    mac, top = "02:00:00:00:00:", "ff:ff:ff:ff:ff:fe"
    return [
        TableEntry("ingress_port", {"ingress_port": 1}, "ingress_port.set_access",
                   {"vnet_id": 4095}),
        TableEntry("ingress_port", {"ingress_port": 2}, "ingress_port.set_fabric"),
        TableEntry("ingress_port", {"ingress_port": 510}, "ingress_port.set_underlay"),
        TableEntry("gre_termination", {"ipv4_dst": "192.0.2.1"}, "gre_termination.terminate"),
        TableEntry("punt", {"ether_type": 0x0806, "ip_proto": 0, "l4_dst_port": 0},
                   "punt.to_cpu", {"reason": 1}),
        TableEntry("punt", {"ether_type": 0x0800, "ip_proto": 17, "l4_dst_port": 67},
                   "punt.to_cpu", {"reason": 255}),
        TableEntry("my_station", {"vnet_id": 10, "eth_dst": mac + "fe"},
                   "my_station.set_routable"),
        TableEntry("routing_v4", {"vnet_id": 10, "ipv4_dst": "10.0.0.5"}, "routing_v4.route",
                   {"src_mac": mac + "fe", "dst_mac": top}),
        TableEntry("routing_v4", {"vnet_id": 4095, "ipv4_dst": "10.255.255.254"},
                   "routing_v4.drop"),
        TableEntry("bridging", {"vnet_id": 4095, "eth_dst": top}, "bridging.to_tunnel",
                   {"tunnel_id": 65535}),
        TableEntry("bridging", {"vnet_id": 4094, "eth_dst": top}, "bridging.flood",
                   {"group": 1}),
        TableEntry("bridging", {"vnet_id": 4093, "eth_dst": top}, "bridging.to_cpu"),
        TableEntry("bridging", {"vnet_id": 4092, "eth_dst": top}, "bridging.drop"),
        TableEntry("bridging", {"vnet_id": 0, "eth_dst": 0}, "bridging.forward", {"port": 0}),
        TableEntry("tunnel_encap", {"tunnel_id": 65535}, "tunnel_encap.encap_gre",
                   {"src_addr": "192.0.2.1", "dst_addr": "198.51.100.2"}),
        TableEntry("tunnel_encap", {"tunnel_id": 1}, "tunnel_encap.drop"),
        TableEntry("underlay_next_hop", {"ipv4_dst": "198.51.100.2"},
                   "underlay_next_hop.set_next_hop",
                   {"port": 3, "src_mac": mac + "01", "dst_mac": mac + "02"}),
        TableEntry("underlay_next_hop", {"ipv4_dst": "198.51.100.3"}, "underlay_next_hop.drop"),
        TableEntry("egress_vlan", {"egress_port": 2}, "egress_vlan.push_vnet_tag"),
    ]


def test_one_of_each_is_every_action_of_every_table(schema: P4Schema) -> None:
    assert {(e.table, e.action) for e in one_of_each()} == {
        (t.name, r.action.name) for t in schema.tables for r in t.action_refs
        if r.allowed_in_entries}


def test_writes_read_back_equal(target: Address, schema: P4Schema,
                                build_paths: BuildPaths) -> None:
    entries: list[Entity] = [MulticastGroupEntry.of_ports(1, [1, 2, 3]),
                             MulticastGroupEntry.of_ports(4095, [0, 511]),
                             *one_of_each(),
                             *(fwd(0x020000000000 + i, 1 + i % 8, 1 + i % 4000)
                               for i in range(1000))]

    async def body(client: P4Client) -> None:
        await client.write([insert(e) for e in entries])
        assert await state(client) == ordered(entries)
        changed = [TableEntry(e.table, e.match, "bridging.drop") for e in entries[-500:]
                   if isinstance(e, TableEntry)]
        group = MulticastGroupEntry.of_ports(1, [4])
        await client.write([*(modify(e) for e in changed), modify(group)])
        gone = [e for e in entries if isinstance(e, TableEntry)][-600:-400]
        await client.write([delete(e) for e in gone])
        want = {repr(e.key()): e for e in entries} | {repr(e.key()): e for e in changed}
        want[repr(group.key())] = group
        for e in gone:
            del want[repr(e.key())]
        assert await state(client) == ordered(want.values())

    run(target, schema, build_paths, body)


async def protobuf_write(client: P4Client, updates: Sequence[Update]) -> None:
    """Write as P4Client sent it before the encoder: protobuf messages through the stub."""
    assert client.schema is not None
    request = p4r.WriteRequest(device_id=client.device_id, election_id=p4r.Uint128(
        high=client.election_id[0], low=client.election_id[1]))
    request.updates.extend(u.encode(client.schema) for u in updates)
    try:
        await client.stub.Write(request)
    except grpc.aio.AioRpcError as exc:
        raise P4RuntimeError.wrap("Write", exc) from None


def refused_batch(schema: P4Schema) -> tuple[list[Update], list[Update]]:
    """Entries to start from, and a batch of which most updates are refused."""
    base: list[Update] = [insert(fwd(1)), insert(fwd(2)),
                          insert(MulticastGroupEntry.of_ports(5, [1]))]
    const_default = next(t for t in schema.tables if t.has_const_default_action)
    batch = [insert(fwd(1)), insert(fwd(3)), modify(fwd(9)), delete(fwd(8)),
             insert(MulticastGroupEntry.of_ports(5, [2])), delete(MulticastGroupEntry(6)),
             modify(MulticastGroupEntry(7)),
             modify(TableEntry(const_default.name, is_default=True)),
             insert(TableEntry("bridging", {"vnet_id": 1, "eth_dst": 1}, "bridging.drop",
                               priority=5)),
             insert(TableEntry("bridging", is_default=True, action="bridging.drop")),
             insert(fwd(4)), delete(fwd(2))]
    return base, batch


def test_refused_updates_give_the_errors_they_gave_before(
        target: Address, schema: P4Schema, build_paths: BuildPaths) -> None:
    base, batch = refused_batch(schema)
    seen: list[tuple[P4RuntimeError, list[Entity]]] = []

    async def body(client: P4Client) -> None:
        for write in (protobuf_write, P4Client.write):
            await clear(client)
            await client.write(base)
            with pytest.raises(P4RuntimeError) as exc:
                await write(client, batch)
            seen.append((exc.value, await state(client)))

    run(target, schema, build_paths, body)
    (before, held_before), (now, held_now) = seen
    assert (now.rpc, now.code, now.message, now.updates) == (
        before.rpc, before.code, before.message, before.updates)
    assert len(now.updates) == len(batch) and len(now.failed) >= 6
    assert now.updates[0].code == rpc_code.ALREADY_EXISTS
    assert now.updates[1].ok and now.updates[-2].ok
    assert held_now == held_before


def test_a_backup_is_refused_as_before(target: Address, schema: P4Schema,
                                       build_paths: BuildPaths) -> None:
    async def body(primary: P4Client) -> None:
        async with P4Client(target[0], target[1], election_id=(0, 3)) as backup:
            assert not backup.is_primary
            backup.schema = schema
            errors = []
            for write in (protobuf_write, P4Client.write):
                with pytest.raises(P4RuntimeError) as exc:
                    await write(backup, [insert(fwd(1))])
                errors.append((exc.value.code, exc.value.message, exc.value.updates))
            assert errors[0] == errors[1]
            assert errors[1][0] == grpc.StatusCode.PERMISSION_DENIED
        assert await state(primary) == []

    run(target, schema, build_paths, body)


def test_what_is_refused_before_anything_is_sent(target: Address, schema: P4Schema) -> None:
    async def main() -> None:
        client = P4Client(target[0], target[1])
        with pytest.raises(MobilityError, match="no pipeline"):
            await client.write([insert(fwd(1))])
        client.schema = schema
        await client.write([])  # nothing to send: no connection needed
        with pytest.raises(MobilityError, match="not connected"):
            await client.write([insert(fwd(1))])
        with pytest.raises(MobilityError, match="does not fit in 12 bits"):
            await client.write([insert(fwd(1)), insert(fwd(2, vnet=4096))])
    asyncio.run(main())
