"""The lab for real (root, Open vSwitch): up, hosts talk across subnets, VMs and clients
migrate with their connections open, down leaves nothing behind."""

from __future__ import annotations

import os
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctrl.lab import build, moves
from ctrl.lab.migrate import migrate
from ctrl.lab.spec import LabError, LabSpec
from ctrl.lab.state import LabState
from ctrl.platform import netns
from tests.lab.labs import left_behind, new_state
from tests.packet.ovs_target import ovs_available
from tests.traffic import tcp_pair, udp_exchange

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and veth pairs"),
    pytest.mark.skipif(ovs_available() is not None, reason=str(ovs_available())),
]


@pytest.fixture
def stanford(tmp_path: Path) -> Iterator[tuple[LabState, LabSpec]]:
    state = new_state(tmp_path, "stanford", "st")
    lines: list[str] = []
    spec = build.up(state, lines.append)
    assert any("in sync" in line for line in lines)
    try:
        yield state, spec
    finally:
        build.down(state)
        assert left_behind(spec, state) == []
        assert LabState.load(state.dir) is None


@pytest.fixture
def cloud_rack(tmp_path: Path) -> Iterator[tuple[LabState, LabSpec]]:
    state = new_state(tmp_path, "cloud-rack", "cr")
    spec = build.up(state, lambda _: None)
    try:
        yield state, spec
    finally:
        build.down(state)
        assert left_behind(spec, state) == []


def _arrivals(spec: LabSpec, payload: bytes, count: int) -> dict[str, int]:
    """`count` datagrams carrying `payload` from the user to vm2: how many frames of them
    each server's hypervisor takes in from its switch port."""
    user, vm2 = spec.hosts["user"], spec.hosts["vm2"]
    taps = {hv: netns.raw_socket("uplink", spec.hypervisors[hv].ns)
            for hv in ("server1", "server2", "server3")}
    seen = dict.fromkeys(taps, 0)
    with netns.in_netns(user.ns):
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sender:
        for _ in range(count):
            sender.sendto(payload, (vm2.ip, 7009))
            time.sleep(0.01)
    deadline = time.monotonic() + 1.0
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select(list(taps.values()), [], [], left)
        for hv, tap in taps.items():
            if tap in ready and payload in netns.recv_frame(tap):
                seen[hv] += 1
    for tap in taps.values():
        tap.close()
    return seen


def test_an_announced_migration_across_sites_delivers_at_both_places(
        cloud_rack: tuple[LabState, LabSpec]) -> None:
    """vm2 announced to move from server2 (campus A) to server3 (campus B): until it
    arrives, every datagram for it reaches both servers once, the far one through the
    tunnel (a copy campus A's gateway makes); after the migration, server3 alone. On the
    Open vSwitch target, GRE and all."""
    state, spec = cloud_rack
    user, vm2 = spec.hosts["user"], spec.hosts["vm2"]
    assert udp_exchange(user.ns, vm2.ns, vm2.ip)   # the user knows vm2's MAC
    assert _arrivals(spec, b"before the announcement", 5) == {"server1": 0, "server2": 5,
                                                              "server3": 0}
    moves.announce(state, "vm2", "server3")
    assert _arrivals(spec, b"in flight", 5) == {"server1": 0, "server2": 5, "server3": 5}
    with tcp_pair(user.ns, vm2.ns, vm2.ip, 7021) as (conn, peer):
        m = migrate(state, "vm2", "server3")    # announced (again: changes nothing)
        assert (m.src, m.dst, m.announced) == ("server2", "server3", True)
        conn.sendall(b"after the move")
        assert peer.recv(100) == b"after the move"
    assert _arrivals(spec, b"after the move", 5) == {"server1": 0, "server2": 0, "server3": 5}


def test_hosts_talk_across_subnets_and_keep_a_connection_through_migrations(
        stanford: tuple[LabState, LabSpec]) -> None:
    state, spec = stanford
    vm, laptop, phone = spec.hosts["game-server"], spec.hosts["laptop"], spec.hosts["phone"]
    assert vm.ip.split(".")[1] != laptop.ip.split(".")[1]  # two subnets, routed
    assert udp_exchange(laptop.ns, vm.ns, vm.ip)
    assert udp_exchange(phone.ns, laptop.ns, laptop.ip)
    with tcp_pair(laptop.ns, vm.ns, vm.ip, 7020) as (conn, peer):
        conn.sendall(b"before")
        assert peer.recv(100) == b"before"
        m = migrate(state, "game-server", "vmhost-packard")       # announced
        assert (m.src, m.dst, m.announced) == ("vmhost-gates", "vmhost-packard", True)
        assert 0 < m.downtime < m.resumed - m.asked
        conn.sendall(b"after the VM moved")
        assert peer.recv(100) == b"after the VM moved"
        migrate(state, "laptop", "ap-gates", announce=False)         # the client roams
        peer.sendall(b"after the laptop roamed")
        assert conn.recv(100) == b"after the laptop roamed"
    assert udp_exchange(laptop.ns, vm.ns, vm.ip)
    again = LabState.load(state.dir)
    assert again is not None
    assert again.locations == {"game-server": "vmhost-packard", "laptop": "ap-gates",
                               "phone": "ap-gates"}
    assert [e["host"] for e in again.events()] == ["game-server", "laptop"]
    with netns.Links(vm.ns) as links:
        assert links.api.link_lookup(ifname="eth0") and not links.api.link_lookup(
            ifname="eth0old")


def test_a_migration_that_cannot_happen_changes_nothing(
        stanford: tuple[LabState, LabSpec]) -> None:
    state, spec = stanford
    before = dict(state.locations)
    for host, to, message in [("game-server", "vmhost-gates", "is at vmhost-gates already"),
                              ("game-server", "mars", "no hypervisor 'mars'"),
                              ("nobody", "ap-gates", "no VM or client 'nobody'")]:
        with pytest.raises(LabError, match=message):
            migrate(state, host, to)
    assert state.locations == before
    vm, laptop = spec.hosts["game-server"], spec.hosts["laptop"]
    assert udp_exchange(laptop.ns, vm.ns, vm.ip)


def test_an_up_that_fails_half_way_takes_down_what_it_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = new_state(tmp_path, "stanford", "sf")
    spec = state.spec()

    def no_controller(*_: object) -> None:
        raise LabError("the controller would not start")

    monkeypatch.setattr(build, "_start_controller", no_controller)
    with pytest.raises(LabError, match="would not start"):
        build.up(state)
    assert left_behind(spec, state) == []
    assert LabState.load(state.dir) is None
