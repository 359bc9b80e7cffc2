"""Light VMs' frames: a RARP for each (MAC, hypervisor) leaves that hypervisor's uplink,
and again as QEMU repeats it; a hypervisor without a sender is refused before anything
is sent. The frames are read off the uplink's peer in a namespace of the test's own."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

import pytest

from ctrl.lab.fattree import scale_hosts, storm_yaml
from ctrl.lab.light import UPLINK, LightSenders
from ctrl.lab.migrate import ANNOUNCE_AGAIN
from ctrl.lab.spec import LabError, LabSpec, parse_lab
from ctrl.platform import netns
from ctrl.punt.frames import parse_arp, rarp_announcement
from tests.lab.labs import unique_name


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
