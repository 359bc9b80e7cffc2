"""The lab for real (root, Open vSwitch): up, hosts talk across subnets, VMs and clients
migrate with their connections open, down leaves nothing behind."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctrl.lab import build
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
