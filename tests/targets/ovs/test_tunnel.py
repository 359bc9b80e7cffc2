"""What OVS's tunneling must hold for a bridge's GRE entries, and what the target refuses."""

from __future__ import annotations

import ipaddress

import pytest

from ctrl.p4rt.entity import TableEntry, insert
from ctrl.p4rt.proto import rpc_code
from ctrl.p4rt.schema import P4Schema
from ctrl.targets.ovs.pipeline import GreLayout
from ctrl.targets.ovs.store import EntryStore
from ctrl.targets.ovs.tunnel import UnderlayState, check_entry, underlay_state
from ctrl.targets.ovs.validate import Rejected


def ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def term(addr: str) -> TableEntry:
    return TableEntry("gre_termination", {"ipv4_dst": ip(addr)}, "gre_termination.terminate")


def tunnel(tid: int, src: str, dst: str) -> TableEntry:
    return TableEntry("tunnel_encap", {"tunnel_id": tid}, "tunnel_encap.encap_gre",
                      {"src_addr": ip(src), "dst_addr": ip(dst)})


def test_addresses_are_termination_addresses_and_tunnel_sources() -> None:
    got = underlay_state([term("192.0.2.1"), tunnel(7, "198.51.100.1", "192.0.2.2")])
    assert got.addresses == {ip("192.0.2.1"), ip("198.51.100.1")}
    assert dict(got.routes) == {ip("192.0.2.2"): ip("198.51.100.1")}
    assert got.neighbours == {ip("198.51.100.1")}


def test_one_route_per_destination_whatever_the_order() -> None:
    a = [tunnel(1, "192.0.2.9", "203.0.113.5"), tunnel(2, "192.0.2.1", "203.0.113.5")]
    assert underlay_state(a) == underlay_state(reversed(a))
    assert dict(underlay_state(a).routes) == {ip("203.0.113.5"): ip("192.0.2.1")}


def next_hop(dst: str) -> TableEntry:
    return TableEntry("underlay_next_hop", {"ipv4_dst": ip(dst)},
                      "underlay_next_hop.set_next_hop", {"port": 5, "src_mac": 1, "dst_mac": 2})


def test_a_next_hop_keeps_its_route_when_the_tunnels_over_it_go() -> None:
    up = underlay_state([term("192.0.2.1"), next_hop("198.51.100.1"),
                         tunnel(7, "192.0.2.1", "198.51.100.1")])
    down = underlay_state([term("192.0.2.1"), next_hop("198.51.100.1")])
    assert up == down
    assert dict(down.routes) == {ip("198.51.100.1"): ip("192.0.2.1")}
    # A next hop with no address of ours to route from needs nothing yet.
    assert underlay_state([next_hop("198.51.100.1")]) == UnderlayState()


def test_tunnel_zero_drops_and_other_tables_need_nothing() -> None:
    entries = [
        tunnel(0, "192.0.2.1", "192.0.2.2"),  # "no tunnel": never looked up
        TableEntry("tunnel_encap", {"tunnel_id": 3}, "tunnel_encap.drop"),
        TableEntry("underlay_next_hop", {"ipv4_dst": ip("192.0.2.2")},
                   "underlay_next_hop.set_next_hop",
                   {"port": 5, "src_mac": 1, "dst_mac": 2}),
        TableEntry("bridging", {"vnet_id": 10, "eth_dst": 5}, "bridging.drop"),
    ]
    assert underlay_state(entries) == UnderlayState()


@pytest.mark.parametrize("addr", ["127.0.0.1", "0.0.0.5", "224.0.0.1", "255.255.255.255"])
def test_addresses_no_port_can_hold_are_refused(addr: str) -> None:
    with pytest.raises(Rejected) as exc:
        check_entry(tunnel(7, addr, "192.0.2.2"), has_gre=True)
    assert exc.value.code == rpc_code.UNIMPLEMENTED
    with pytest.raises(Rejected):
        check_entry(term(addr), has_gre=True)
    check_entry(tunnel(7, "192.0.2.1", "192.0.2.2"), has_gre=True)


def test_a_bridge_without_gre_refuses_gre_entries_only(schema: P4Schema) -> None:
    store = EntryStore(schema)  # no GreLayout: no GRE port on this bridge
    entries = [term("192.0.2.1"), TableEntry("bridging", {"vnet_id": 10, "eth_dst": 5},
                                              "bridging.drop")]
    plan = store.plan_updates([insert(e).encode(schema) for e in entries])
    assert [code for code, _ in plan.statuses] == [rpc_code.UNIMPLEMENTED, rpc_code.OK]
    with_gre = EntryStore(schema, GreLayout(underlay_mac=0x020000000001))
    assert with_gre.plan_updates([insert(entries[0]).encode(schema)]).ok
