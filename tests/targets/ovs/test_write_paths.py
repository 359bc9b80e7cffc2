"""Writes down the C decoder's path and down protobuf's, on two real OVS targets side by side.

The same requests (valid, with every kind of fault, re-encoded, broken, from the wrong
controller or to the wrong device, CONTINUE_ON_ERROR and ROLLBACK_ON_ERROR) go to a
target decoding Writes in C and to one that parses them with protobuf only; the replies
(code, message, each update's error) and what Read gives back afterwards are the same.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings

from ctrl.fastpath import native_available
from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.p4rt.entity import MulticastGroupEntry, TableEntry
from ctrl.p4rt.proto import p4r
from ctrl.p4rt.schema import P4Schema
from ctrl.platform import netns
from ctrl.targets.ovs.target import BridgeSpec, serving
from tests.p4rt import wire_cases as w
from tests.packet.ovs_target import ovs_available
from tests.targets.ovs.rpc import ELECTION, Outcome
from tests.targets.ovs.rpc import RawTarget as Target

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(not native_available(), reason="the C fast path is not built")]

PATHS = BuildPaths(project_root())
SCHEMA = P4Schema.load(PATHS.p4info)
INSERT, MODIFY, DELETE = p4r.Update.INSERT, p4r.Update.MODIFY, p4r.Update.DELETE

@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Target, Target]]:
    """(C decoder, protobuf only): each its own ovs-vswitchd in its own namespace."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run ovs-vswitchd")
    if (why := ovs_available()) is not None:
        pytest.skip(why)
    uid = os.getpid() % 100000
    with netns.scratch_netns(f"wpf{uid}") as ns_fast, \
            netns.scratch_netns(f"wps{uid}") as ns_slow, \
            serving(Path(tmp_path_factory.mktemp("wpfast")),
                    [BridgeSpec(f"wpf{uid}", 1, netns=ns_fast)], SCHEMA) as fast, \
            serving(Path(tmp_path_factory.mktemp("wpslow")),
                    [BridgeSpec(f"wps{uid}", 1, netns=ns_slow)], SCHEMA,
                    fast_writes=False) as slow:
        pair = Target(fast.address), Target(slow.address)
        yield pair
        for t in pair:
            t.close()


def request(updates: Sequence[p4r.Update | bytes], atomicity: int = 0, election: int = ELECTION,
            device_id: int = 1) -> bytes:
    """A WriteRequest's bytes; updates given as bytes go in as they are."""
    head: bytes = p4r.WriteRequest(device_id=device_id, election_id=p4r.Uint128(low=election),
                                   atomicity=cast("p4r.WriteRequest.Atomicity", atomicity)
                                   ).SerializeToString()
    body = b"".join(b"\x22" + w.varint(len(u)) + u for u in (
        u if isinstance(u, bytes) else u.SerializeToString() for u in updates))
    return head + body


def same(targets: tuple[Target, Target], *requests: bytes) -> list[Outcome]:
    """Each request to both targets, from a fresh pipeline; the replies and the Read-back
    agree. Returns the replies."""
    fast, slow = targets
    fast.reset()
    slow.reset()
    replies = []
    for data in requests:
        got = fast.write(data), slow.write(data)
        assert got[0] == got[1]
        replies.append(got[0])
    assert fast.read() == slow.read()
    return replies


def upd(kind: int, entry: TableEntry | p4r.TableEntry) -> p4r.Update:
    msg = entry.encode(SCHEMA) if isinstance(entry, TableEntry) else entry
    return p4r.Update(type=cast("p4r.Update.Type", kind), entity=p4r.Entity(table_entry=msg))


def bridging(i: int, port: int = 1) -> TableEntry:
    return TableEntry("bridging", {"vnet_id": 1 + i % 4000, "eth_dst": 0x0200_0000_0000 + i},
                      "bridging.forward", {"port": port})


def valid() -> list[p4r.Update]:
    entries = [bridging(i, 1 + i % 8) for i in range(300)] + [
        TableEntry("ingress_port", {"ingress_port": 1}, "ingress_port.set_access",
                   {"vnet_id": 10}),
        TableEntry("ingress_port", {"ingress_port": 2}, "ingress_port.set_fabric"),
        TableEntry("my_station", {"vnet_id": 10, "eth_dst": 0x0200_0000_00fe},
                   "my_station.set_routable"),
        TableEntry("routing_v4", {"vnet_id": 10, "ipv4_dst": 0x0a00_0005},
                   "routing_v4.route", {"src_mac": 0x0200_0000_00fe, "dst_mac": 0x0200_0000_0005}),
        TableEntry("routing_v4", {"vnet_id": 10, "ipv4_dst": 0x0a00_0006}, "routing_v4.drop"),
        TableEntry("bridging", {"vnet_id": 11, "eth_dst": 0xffff_ffff_ffff}, "bridging.flood",
                   {"group": 7}),
        TableEntry("bridging", {"vnet_id": 11, "eth_dst": 0x0200_0000_0077}, "bridging.to_cpu"),
        TableEntry("bridging", {"vnet_id": 11, "eth_dst": 0x0200_0000_0078}, "bridging.drop"),
        TableEntry("egress_vlan", {"egress_port": 2}, "egress_vlan.push_vnet_tag"),
    ]
    group = MulticastGroupEntry.of_ports(7, [1, 2, 3])
    return [upd(INSERT, e) for e in entries] + [
        p4r.Update(type=INSERT, entity=group.entity())]


def faults() -> list[p4r.Update | bytes]:
    """One update of each kind validate.py or the store refuses, between good ones."""
    good = bridging(5000).encode(SCHEMA)

    def changed(how: str) -> p4r.TableEntry:
        te = p4r.TableEntry()
        te.CopyFrom(good)
        if how == "table":
            te.table_id = 1
        elif how == "field":
            te.match[0].field_id = 99
        elif how == "field twice":
            te.match.add().CopyFrom(te.match[0])
        elif how == "field missing":
            del te.match[1]
        elif how == "too wide":
            te.match[0].exact.value = b"\x10\x00"
        elif how == "priority":
            te.priority = 5
        elif how == "no action":
            te.ClearField("action")
        elif how == "action":
            te.action.action.action_id = 777
        elif how == "action of another table":
            te.action.action.action_id = SCHEMA.actions["routing_v4.drop"].id
        elif how == "param":
            te.action.action.params[0].param_id = 9
        elif how == "param twice":
            te.action.action.params.add().CopyFrom(te.action.action.params[0])
        elif how == "param missing":
            del te.action.action.params[:]
        elif how == "param too wide":
            te.action.action.params[0].value = b"\xff\xff"
        return te

    hows = ("table", "field", "field twice", "field missing", "too wide", "priority",
            "no action", "action", "action of another table", "param", "param twice",
            "param missing", "param too wide")
    default = p4r.TableEntry(table_id=good.table_id, is_default_action=True)
    default.action.CopyFrom(good.action)
    out: list[p4r.Update | bytes] = [upd(INSERT, good), upd(INSERT, good),  # ALREADY_EXISTS
                                     upd(DELETE, bridging(6000)),             # NOT_FOUND
                                     upd(MODIFY, bridging(6001))]             # NOT_FOUND
    out += [upd(INSERT, changed(how)) for how in hows]
    empty = changed("table")
    empty.table_id = good.table_id
    empty.match[0].exact.value = b""
    out += [upd(INSERT, empty), upd(INSERT, default), upd(MODIFY, default),
            p4r.Update(type=p4r.Update.UNSPECIFIED, entity=p4r.Entity(table_entry=good)),
            p4r.Update(type=INSERT, entity=p4r.Entity(counter_entry=p4r.CounterEntry())),
            p4r.Update(type=INSERT, entity=MulticastGroupEntry.of_ports(8, [1]).entity()),
            p4r.Update(type=INSERT, entity=MulticastGroupEntry.of_ports(8, [2]).entity()),
            upd(INSERT, TableEntry("gre_termination", {"ipv4_dst": 0x7f00_0001},
                                   "gre_termination.terminate"))]
    # A good entry whose fields come in another order than protobuf writes them: slow.
    tree = w.parse(upd(INSERT, bridging(5001)).SerializeToString(), "Update")
    out.append(w.encode(tuple(reversed(tree))))
    out.append(upd(INSERT, bridging(5002)))
    return out


def test_valid_batches(targets: tuple[Target, Target]) -> None:
    batch = valid()
    replies = same(targets, request(batch[:100]), request(batch[100:]))
    assert replies == [("OK", "", [])] * 2


def test_every_fault_continue_on_error(targets: tuple[Target, Target]) -> None:
    (reply,) = same(targets, request(faults()))
    assert reply[0] == "UNKNOWN" and len(reply[2]) == len(faults())
    codes = {code for code, _ in reply[2]}
    assert len(codes) >= 6  # OK, ALREADY_EXISTS, NOT_FOUND, INVALID_ARGUMENT, ...


def test_every_fault_rolled_back(targets: tuple[Target, Target]) -> None:
    for atomicity in (p4r.WriteRequest.ROLLBACK_ON_ERROR, p4r.WriteRequest.DATAPLANE_ATOMIC):
        (reply,) = same(targets, request(faults(), atomicity))
        assert reply[0] == "UNKNOWN"
    assert targets[0].read() == []


def test_modify_and_delete(targets: tuple[Target, Target]) -> None:
    batch = valid()
    entries = [bridging(i, 2) for i in range(0, 300, 3)]
    same(targets, request(batch),
         request([upd(MODIFY, e) for e in entries]),
         request([upd(DELETE, e) for e in entries[::2]] + [
             p4r.Update(type=DELETE, entity=MulticastGroupEntry(7).entity())]),
         request([upd(DELETE, e) for e in entries[::2]]))  # NOT_FOUND each


def test_header_faults(targets: tuple[Target, Target]) -> None:
    one = [upd(INSERT, bridging(1))]
    # An update C leaves to protobuf at its first field (a replication entry), whose
    # bytes protobuf refuses further in: protobuf's refusal comes before any check.
    broken = w.encode((w.Field(1, w.VARINT, INSERT), w.Field(2, w.LEN, (
        w.Field(9, w.LEN, b"\x0a\x05ab"),))))
    replies = same(targets, request(one, election=9), request(one, device_id=42),
                   request(one, atomicity=7), request([]),
                   request(one)[:-3], b"\x22\x05ab", b"2\x03\x80sdn",
                   request([*one, broken], election=9), request([*one, broken]),
                   request(one))
    # Bytes protobuf refuses are no WriteRequest: INVALID_ARGUMENT, before any header check.
    assert [r[0] for r in replies] == ["PERMISSION_DENIED", "NOT_FOUND", "INVALID_ARGUMENT",
                                       "OK", "INVALID_ARGUMENT", "INVALID_ARGUMENT",
                                       "INVALID_ARGUMENT", "INVALID_ARGUMENT",
                                       "INVALID_ARGUMENT", "OK"]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(w.write_requests(SCHEMA, max_updates=12))
def test_generated_requests(targets: tuple[Target, Target], req: p4r.WriteRequest) -> None:
    """Random requests (most with faults) to device 1 from the primary: the same."""
    req.device_id = 1
    req.election_id.high, req.election_id.low = 0, ELECTION
    same(targets, request(valid()[:20]), req.SerializeToString())
