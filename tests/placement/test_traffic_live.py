"""The counter arithmetic on the real Open vSwitch target (root): the stanford lab, known
numbers of datagrams routed from the laptop (Packard's access point) and the phone (Gates')
to the game server; the bridging entries' direct counters, read over P4Runtime as the
controller reads them, give exactly what entered at each access point's switch. Then a
migration inside an interval: the entries' MODIFY starts new counters on this target (the
Write gives each new version of an entry its own flows) and changes their actions, and
the interval is refused, never misread."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import grpc
import pytest

from ctrl.control.planner import Planner
from ctrl.lab import build
from ctrl.lab.migrate import migrate
from ctrl.lab.spec import LabSpec
from ctrl.lab.state import LabState
from ctrl.northbound.client import call
from ctrl.p4rt.entity import decode_entity
from ctrl.p4rt.proto import p4r, p4r_grpc
from ctrl.p4rt.schema import P4Schema
from ctrl.p4rt.values import to_int
from ctrl.placement.traffic import Count, HostKey, Wiring, counts_of, ingress
from ctrl.platform import netns
from tests.lab.labs import left_behind, new_state
from tests.packet.ovs_target import ovs_available

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and veth pairs"),
    pytest.mark.skipif(ovs_available() is not None, reason=str(ovs_available())),
]

SERVER = (1, to_int("02:00:00:00:01:01"))


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[LabState, LabSpec]]:
    state = new_state(tmp_path, "stanford", "tc")
    spec = build.up(state)
    try:
        # The engine is not to move the server under this test: its policy goes.
        call(state.api, "placement/game-server", None, "DELETE")
        yield state, spec
    finally:
        build.down(state)
        assert left_behind(spec, state) == []


def read(spec: LabSpec, schema: P4Schema) -> dict[str, Mapping[HostKey, Count]]:
    """Every switch's bridging entries with their direct counters: one Read each (no
    arbitration needed to read), as the controller's placement rounds do."""
    out: dict[str, Mapping[HostKey, Count]] = {}
    for name, sw in spec.switches.items():
        with grpc.insecure_channel(sw.grpc_addr) as channel:
            entry = p4r.TableEntry(table_id=schema.tables["bridging"].id)
            entry.counter_data.CopyFrom(p4r.CounterData())
            request = p4r.ReadRequest(device_id=sw.device_id,
                                      entities=[p4r.Entity(table_entry=entry)])
            got = [decode_entity(e, schema) for reply in
                   p4r_grpc.P4RuntimeStub(channel).Read(request) for e in reply.entities]
        out[name] = counts_of(got)
    return out


def send(ns: str, dst_ip: str, count: int, rate: float = 500.0) -> None:
    with netns.in_netns(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with s:
        start = time.monotonic()
        for i in range(count):
            s.sendto(b"x" * 32, (dst_ip, 7070))
            time.sleep(max(0.0, start + (i + 1) / rate - time.monotonic()))


def received(sock: socket.socket) -> int:
    n = 0
    sock.settimeout(0.5)
    while True:
        try:
            sock.recv(100)
        except TimeoutError:
            return n
        n += 1


def server_socket(spec: LabSpec) -> socket.socket:
    vm = spec.hosts["game-server"]
    with netns.in_netns(vm.ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((vm.ip, 7070))
    return s


def of_server(reading: Mapping[str, Mapping[HostKey, Count]]) -> dict[str, Count]:
    return {sw: counts[SERVER] for sw, counts in reading.items() if SERVER in counts}


def test_what_entered_at_each_switch_is_what_each_client_sent(
        lab: tuple[LabState, LabSpec], schema: P4Schema) -> None:
    _, spec = lab
    wiring = Wiring.of(spec.topology, Planner(spec.topology).tunnels())
    laptop, phone, vm = (spec.hosts[h] for h in ("laptop", "phone", "game-server"))
    with server_socket(spec) as sock:
        send(laptop.ns, vm.ip, 5)     # ARP answered, caches warm: then the counting
        send(phone.ns, vm.ip, 5)
        received(sock)
        before = of_server(read(spec, schema))
        # its entry where its network's frames cross (footprints): not on p-1 and p-2,
        # where none of its network is
        assert set(before) == {"g-core", "g-1", "g-2", "p-core"}
        send(laptop.ns, vm.ip, 300)
        send(phone.ns, vm.ip, 500)
        got = received(sock)
        after = of_server(read(spec, schema))
    assert got == 800
    # Routed (the clients' subnet is not the server's): bridged on the server's MAC after
    # routing_v4, at the access points' switches and on every switch down the tree.
    assert ingress(wiring, before, after) == {"p-core": 300, "g-2": 500, "g-core": 0, "g-1": 0}
    # Bytes are not the measure: a frame counts 4 bytes more (its VLAN tag) after the
    # first switch on this target, so the differences do not add up by bytes.
    assert after["g-1"].bytes - before["g-1"].bytes > sum(
        after[s].bytes - before[s].bytes for s in ("p-core", "g-2"))


def test_an_interval_with_a_migration_in_it_is_refused(
        lab: tuple[LabState, LabSpec], schema: P4Schema) -> None:
    state, spec = lab
    wiring = Wiring.of(spec.topology, Planner(spec.topology).tunnels())
    laptop, vm = spec.hosts["laptop"], spec.hosts["game-server"]
    with server_socket(spec) as sock:
        send(laptop.ns, vm.ip, 50)
        received(sock)
        before = of_server(read(spec, schema))
    migrate(state, "game-server", "vmhost-packard")
    with server_socket(spec) as sock:
        send(laptop.ns, vm.ip, 20)
        assert received(sock) == 20
        after = of_server(read(spec, schema))
    why = ingress(wiring, before, after)
    assert isinstance(why, str) and "changed" in why
    # The switches whose entry changed count from 0 again (new flows), at most what was
    # sent since; a MODIFY on bmv2 would keep counting, and the action's change alone
    # refuses the interval there.
    # (an entry new or gone counts: its footprint moved with it)
    changed = [sw for sw in before.keys() | after.keys()
               if sw not in before or sw not in after
               or (after[sw].action, after[sw].arg) != (before[sw].action, before[sw].arg)]
    assert set(changed) >= {"g-1", "p-1", "p-core"}
    for sw in set(changed) & after.keys():
        assert after[sw].packets <= 20 + 5, (sw, after[sw])
    assert before["p-core"].packets >= 50
