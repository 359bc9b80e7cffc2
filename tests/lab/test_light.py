"""Light VMs' frames: a RARP for each (MAC, hypervisor) leaves that hypervisor's uplink,
and again as QEMU repeats it; a hypervisor without a sender is refused before anything
is sent (the frames read off the uplink's peer in a namespace of the test's own); and
`ctrl lab migrate` of a light VM in a lab on Open vSwitch."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import time
from pathlib import Path

import pytest

from ctrl.lab import build
from ctrl.lab.fattree import scale_hosts, storm_yaml
from ctrl.lab.light import UPLINK, LightSenders
from ctrl.lab.migrate import migrate
from ctrl.lab.moves import ANNOUNCE_AGAIN
from ctrl.lab.spec import LabError, LabSpec, parse_lab
from ctrl.lab.state import LabState
from ctrl.northbound.client import call
from ctrl.platform import netns
from ctrl.punt.frames import parse_arp, rarp_announcement
from ctrl.targets.bmv2 import free_tcp_port
from tests.lab.labs import left_behind, unique_name
from tests.packet.ovs_target import ovs_available


def _spec(name: str) -> LabSpec:
    return parse_lab(storm_yaml(name, scale_hosts(4, 20)), "storm.yaml", tag="lzz")


def test_a_hypervisor_without_a_sender_is_refused_before_any_frame() -> None:
    spec = _spec("lightx")
    with LightSenders(spec, []) as senders, pytest.raises(LabError, match="h0-0-0"):
        senders.announce([(0x020000000001, "h0-0-0")])
    with pytest.raises(LabError, match="no hypervisor"):
        LightSenders(spec, ["nosuch"]).__enter__()


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and veth pairs")
def test_rarps_leave_the_uplink_and_are_repeated(tmp_path: Path) -> None:
    spec = _spec(unique_name(tmp_path, "lt"))
    hv = spec.hypervisors["h1-0-1"]
    netns.create_netns(hv.ns)
    try:
        netns.add_veth(UPLINK, "peer", ns=hv.ns)
        with contextlib.closing(netns.raw_socket("peer", hv.ns)) as tap:
            tap.settimeout(2.0)
            macs = [0x020000000003, 0x020000000007]
            with LightSenders(spec, [hv.name]) as senders:
                senders.announce([(m, hv.name) for m in macs])
            got: list[int] = []
            with contextlib.suppress(socket.timeout):
                while len(got) < 10:
                    frame = tap.recv(2048)
                    arp = parse_arp(frame)
                    if arp is not None and arp.is_rarp:
                        got.append(arp.sha)
                        assert frame == rarp_announcement(arp.sha)
            assert got == macs * (1 + len(ANNOUNCE_AGAIN))
    finally:
        netns.remove_netns(hv.ns)


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and veth pairs")
@pytest.mark.skipif(ovs_available() is not None, reason=str(ovs_available()))
def test_lab_migrate_moves_a_light_vm_by_its_rarp_through_open_vswitch(tmp_path: Path
                                                                       ) -> None:
    """A lab of light VMs up on the OVS target: one moved unannounced is found at its new
    place by the controller from its RARP alone (a real frame through a real bridge), one
    announced too; both in the lab's state; a move to where it is changes nothing."""
    hosts = scale_hosts(4, 24, 2, "spread", 5)
    text = storm_yaml(unique_name(tmp_path, "lm"), hosts, hosts.probe_pairs(1))
    state = LabState(tmp_path / "lab", text, "light.yaml", "ovs", [free_tcp_port()],
                     f"127.0.0.1:{free_tcp_port()}")
    spec = build.up(state)
    try:
        light = [h for h in hosts.hosts if h.name in spec.light]
        rng = random.Random(1)
        for h, announce in ((light[0], False), (light[1], True)):
            to = hosts.elsewhere(h, rng)
            since = time.monotonic()
            m = migrate(state, h.name, to, announce=announce)
            assert (m.src, m.dst, m.announced) == (h.hypervisor, to, announce)
            where = str(spec.topology.hypervisors[to].attach)
            deadline = time.monotonic() + 30
            rows: list[dict[str, object]] = []
            while time.monotonic() < deadline and not rows:
                got = call(state.api, f"moves?since={since}")
                assert isinstance(got, list)
                rows = [r for r in got if r["mac"] == spec.light[h.name].mac
                        and r["at"] == where and r["converged"]]
                time.sleep(0.1)
            assert rows, f"{h.name}: no converged move at {where}"
            saved = LabState.load(state.dir)
            assert saved is not None and saved.locations[h.name] == to
        now = LabState.load(state.dir)
        assert now is not None
        with pytest.raises(LabError, match="already"):
            migrate(state, light[0].name, now.locations[light[0].name])
    finally:
        build.down(state)
    assert left_behind(spec, state) == []
