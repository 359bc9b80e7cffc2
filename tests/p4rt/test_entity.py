"""Entities encode to p4.v1 messages and decode back; bad values are refused with clear errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctrl.errors import P4EncodeError
from ctrl.p4rt.entity import (
    CounterData,
    MulticastGroupEntry,
    PacketIn,
    PacketOut,
    Replica,
    TableEntry,
    UpdateType,
    decode_entity,
    delete,
    insert,
)
from ctrl.p4rt.proto import p4r
from ctrl.p4rt.schema import P4Schema


def bridging(mac: str = "02:00:00:00:00:0b", port: int = 2, vnet: int = 10) -> TableEntry:
    return TableEntry("bridging", {"vnet_id": vnet, "eth_dst": mac}, "bridging.forward",
                      {"port": port})


def test_encode_uses_ids_and_canonical_bytes(schema: P4Schema) -> None:
    msg = bridging().encode(schema)
    table = schema.tables["bridging"]
    assert msg.table_id == table.id
    by_id = {m.field_id: m.exact.value for m in msg.match}
    assert by_id[table.match_fields["vnet_id"].id] == b"\x0a"
    assert by_id[table.match_fields["eth_dst"].id] == bytes.fromhex("02000000000b")
    assert msg.action.action.action_id == schema.actions["bridging.forward"].id
    assert msg.action.action.params[0].value == b"\x02"


def test_zero_is_one_byte(schema: P4Schema) -> None:
    msg = TableEntry("punt", {"ether_type": 0x0806, "ip_proto": 0, "l4_dst_port": 0},
                     "punt.to_cpu", {"reason": 1}).encode(schema)
    assert sorted(m.exact.value for m in msg.match) == [b"\x00", b"\x00", b"\x08\x06"]


def test_decode_inverts_encode(schema: P4Schema) -> None:
    entry = TableEntry("tunnel_encap", {"tunnel_id": 7}, "tunnel_encap.encap_gre",
                       {"src_addr": "192.0.2.1", "dst_addr": "192.0.2.2"})
    again = TableEntry.decode(entry.encode(schema), schema)
    assert again == entry
    assert again.params == {"src_addr": 0xC0000201, "dst_addr": 0xC0000202}


@given(vnet=st.integers(0, 4095), mac=st.integers(0, 2**48 - 1), port=st.integers(0, 511))
def test_round_trip_any_value_in_range(schema: P4Schema, vnet: int, mac: int, port: int) -> None:
    entry = TableEntry("bridging", {"vnet_id": vnet, "eth_dst": mac}, "bridging.forward",
                       {"port": port})
    assert TableEntry.decode(entry.encode(schema), schema) == entry


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (bridging(vnet=4096), r"vnet_id: 4096 does not fit in 12 bits"),
        (bridging(port=512), r"port: 512 does not fit in 9 bits"),
        (TableEntry("bridging", {"vnet_id": 1}, "bridging.drop"), "'eth_dst' is missing"),
        (TableEntry("bridging", {"vnet_id": 1, "eth_dst": 1, "vlan": 3}, "bridging.drop"),
         "no match field vlan"),
        (TableEntry("bridging", {"vnet_id": 1, "eth_dst": 1}, "bridging.forward"),
         "missing parameter port"),
        (TableEntry("bridging", {"vnet_id": 1, "eth_dst": 1}, "bridging.drop", {"port": 1}),
         "no parameter port"),
        (TableEntry("bridging", {"vnet_id": 1, "eth_dst": 1}, "routing_v4.route",
                    {"src_mac": 1, "dst_mac": 2}), "has no action"),
        (TableEntry("ingress_port", {"ingress_port": 1}, "ingress_port.set_unknown"),
         "only for the default entry"),
        (TableEntry("bridging", {"vnet_id": 1, "eth_dst": 1}), "names no action"),
        (TableEntry("bridging", {"vnet_id": 1}, "bridging.drop", is_default=True),
         "default entry has no match"),
    ],
    ids=["too-wide-match", "too-wide-param", "missing-field", "extra-field", "missing-param",
         "extra-param", "foreign-action", "default-only-action", "no-action", "default-match"],
)
def test_bad_entries_are_refused(schema: P4Schema, entry: TableEntry, message: str) -> None:
    with pytest.raises(P4EncodeError, match=message):
        entry.encode(schema)


@pytest.mark.parametrize("value", ["02:00:00:00:00", "zz:00:00:00:00:00", "10.0.0.256", -1,
                                   "nonsense", True, 1.5])
def test_bad_values_are_refused_when_built(value: object) -> None:
    with pytest.raises(P4EncodeError):
        TableEntry("bridging", {"vnet_id": 1, "eth_dst": value}, "bridging.drop")  # type: ignore[dict-item]


def test_unknown_table_names_the_known_ones(schema: P4Schema) -> None:
    with pytest.raises(LookupError, match=r"no table 'bridge'.*bridging"):
        TableEntry("bridge", {}, "x").encode(schema)


def test_decode_refuses_a_too_wide_value(schema: P4Schema) -> None:
    msg = bridging().encode(schema)
    msg.match[0].exact.value = b"\xff\xff"  # vnet_id has 12 bits
    with pytest.raises(P4EncodeError, match="does not fit in 12 bits"):
        TableEntry.decode(msg, schema)


def test_default_entry(schema: P4Schema) -> None:
    msg = TableEntry("routing_v4", action="routing_v4.drop", is_default=True).encode(schema)
    assert msg.is_default_action and not msg.match


def test_counter_data_decodes(schema: P4Schema) -> None:
    msg = bridging().encode(schema)
    msg.counter_data.packet_count, msg.counter_data.byte_count = 3, 300
    assert TableEntry.decode(msg, schema).counter == CounterData(3, 300)


def test_updates_and_entities(schema: P4Schema) -> None:
    up = insert(bridging()).encode(schema)
    assert up.type == p4r.Update.INSERT and up.entity.HasField("table_entry")
    assert delete(bridging()).type is UpdateType.DELETE
    group = MulticastGroupEntry.of_ports(1, [1, 2, 3])
    ent = group.entity()
    assert decode_entity(ent, schema) == group
    assert group.replicas[1] == Replica(2, 0)


def test_multicast_group_bounds() -> None:
    with pytest.raises(P4EncodeError, match="multicast group id 0"):
        MulticastGroupEntry(0)
    with pytest.raises(P4EncodeError, match="bad replica"):
        MulticastGroupEntry(1, (Replica(-1),))


def test_packet_out_and_in_metadata(schema: P4Schema) -> None:
    msg = PacketOut(b"frame", {"egress_port": 3}).encode(schema)
    meta = schema.packet_metadata["packet_out"]
    assert {meta.fields[m.metadata_id].name: m.value for m in msg.metadata} == {
        "egress_port": b"\x03", "mcast_grp": b"\x00", "_pad": b"\x00"}
    with pytest.raises(P4EncodeError, match="no field port"):
        PacketOut(b"x", {"port": 1}).encode(schema)
    with pytest.raises(P4EncodeError, match="does not fit in 9 bits"):
        PacketOut(b"x", {"egress_port": 600}).encode(schema)
    pin_meta = schema.packet_metadata["packet_in"]
    pin = p4r.PacketIn(payload=b"abc")
    pin.metadata.add(metadata_id=pin_meta.fields["ingress_port"].id, value=b"\x01")
    pin.metadata.add(metadata_id=pin_meta.fields["reason"].id, value=b"\x02")
    got = PacketIn.decode(pin, schema)
    assert got.payload == b"abc" and got.metadata == {"ingress_port": 1, "reason": 2}
