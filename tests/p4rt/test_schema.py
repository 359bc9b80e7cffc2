"""The P4Info of mobility.p4, pinned (golden), and the typed schema over it."""

from __future__ import annotations

import pytest

from ctrl.errors import P4SchemaError
from ctrl.p4rt.schema import ActionScope, MatchKind, P4Schema

# table -> ((match field, bit width), ...), (action, ...), const default action
GOLDEN_TABLES = {
    "ingress_port": ((("ingress_port", 9),),
                     ("ingress_port.set_access", "ingress_port.set_fabric",
                      "ingress_port.set_underlay", "ingress_port.set_unknown"),
                     "ingress_port.set_unknown"),
    "gre_termination": ((("ipv4_dst", 32),), ("gre_termination.terminate", "NoAction"),
                        "NoAction"),
    "punt": ((("ether_type", 16), ("ip_proto", 8), ("l4_dst_port", 16)),
             ("punt.to_cpu", "NoAction"), "NoAction"),
    "my_station": ((("vnet_id", 12), ("eth_dst", 48)), ("my_station.set_routable", "NoAction"),
                   "NoAction"),
    "routing_v4": ((("vnet_id", 12), ("ipv4_dst", 32)), ("routing_v4.route", "routing_v4.drop"),
                   "routing_v4.drop"),
    "bridging": ((("vnet_id", 12), ("eth_dst", 48)),
                 ("bridging.forward", "bridging.to_tunnel", "bridging.flood", "bridging.to_cpu",
                  "bridging.drop"),
                 "bridging.drop"),
    "tunnel_encap": ((("tunnel_id", 16),), ("tunnel_encap.encap_gre", "tunnel_encap.drop"),
                     "tunnel_encap.drop"),
    "underlay_next_hop": ((("ipv4_dst", 32),),
                          ("underlay_next_hop.set_next_hop", "underlay_next_hop.drop"),
                          "underlay_next_hop.drop"),
    "egress_vlan": ((("egress_port", 9),), ("egress_vlan.push_vnet_tag", "NoAction"),
                    "NoAction"),
}

GOLDEN_ACTION_PARAMS = {
    "ingress_port.set_access": (("vnet_id", 12),),
    "punt.to_cpu": (("reason", 8),),
    "routing_v4.route": (("src_mac", 48), ("dst_mac", 48)),
    "bridging.forward": (("port", 9),),
    "bridging.to_tunnel": (("tunnel_id", 16),),
    "bridging.flood": (("group", 16),),
    "tunnel_encap.encap_gre": (("src_addr", 32), ("dst_addr", 32)),
    "underlay_next_hop.set_next_hop": (("port", 9), ("src_mac", 48), ("dst_mac", 48)),
}

GOLDEN_PACKET_METADATA = {
    "packet_in": (("ingress_port", 9), ("_pad0", 7), ("reason", 8), ("_pad1", 4),
                  ("vnet_id", 12)),
    "packet_out": (("egress_port", 9), ("mcast_grp", 16), ("_pad", 7)),
}


def test_golden_tables(schema: P4Schema) -> None:
    got = {}
    for table in schema.tables:
        fields = tuple((f.name, f.bitwidth) for f in sorted(table.match_fields, key=lambda f: f.id))
        assert all(f.kind is MatchKind.EXACT for f in table.match_fields), table.name
        actions = tuple(r.action.name for r in table.action_refs)
        default = schema.actions[table.const_default_action_id].name
        got[table.name] = (fields, actions, default)
    assert {k: (v[0], set(v[1]), v[2]) for k, v in got.items()} == {
        k: (v[0], set(v[1]), v[2]) for k, v in GOLDEN_TABLES.items()
    }


def test_golden_action_params(schema: P4Schema) -> None:
    for name, params in GOLDEN_ACTION_PARAMS.items():
        action = schema.actions[name]
        assert tuple((p.name, p.bitwidth) for p in sorted(action.params, key=lambda p: p.id)) \
            == params, name


def test_golden_packet_metadata(schema: P4Schema) -> None:
    for name, fields in GOLDEN_PACKET_METADATA.items():
        meta = schema.packet_metadata[name]
        assert tuple((f.name, f.bitwidth) for f in sorted(meta.fields, key=lambda f: f.id)) \
            == fields


def test_every_table_has_a_direct_counter_and_a_size(schema: P4Schema) -> None:
    for table in schema.tables:
        assert table.direct_counter is not None, table.name
        assert table.direct_counter.unit == "BOTH"
        assert table.size > 0
        assert table.has_const_default_action


def test_lookup_by_name_alias_and_id(schema: P4Schema) -> None:
    table = schema.tables["bridging"]
    assert schema.tables[table.id] is table
    assert schema.tables[table.alias] is table
    assert "bridging" in schema.tables and table.id in schema.tables
    assert table.match_fields["eth_dst"].bitwidth == 48
    ref = table.action_ref("bridging.forward")
    assert ref.action.params["port"].bitwidth == 9
    assert table.action_ref(ref.action.id) is ref


def test_default_only_scope_is_read(schema: P4Schema) -> None:
    ref = schema.tables["ingress_port"].action_ref("ingress_port.set_unknown")
    assert ref.scope is ActionScope.DEFAULT_ONLY
    assert not ref.allowed_in_entries and ref.allowed_as_default


@pytest.mark.parametrize("name", ["bridgeing", "", "ingress.bridging"])
def test_unknown_table_is_a_clear_error(schema: P4Schema, name: str) -> None:
    with pytest.raises(P4SchemaError, match="no table") as exc:
        schema.tables[name]
    assert "bridging" in str(exc.value)  # the message lists what exists
    assert isinstance(exc.value, LookupError)


def test_unknown_action_of_table(schema: P4Schema) -> None:
    with pytest.raises(P4SchemaError, match=r"has no action 'routing_v4\.route'"):
        schema.tables["bridging"].action_ref("routing_v4.route")


def test_bad_p4info_text() -> None:
    with pytest.raises(P4SchemaError, match="not a P4Info"):
        P4Schema.from_text("tables { this is not protobuf", "x.p4info")
    with pytest.raises(P4SchemaError, match="no tables"):
        P4Schema.from_text("", "empty.p4info")


def test_missing_file() -> None:
    with pytest.raises(P4SchemaError, match="cannot read P4Info"):
        P4Schema.load("/nonexistent/mobility.p4info")


def test_round_trip_through_binary(schema: P4Schema) -> None:
    again = P4Schema.from_binary(schema.p4info.SerializeToString())
    assert again.tables.names() == schema.tables.names()
