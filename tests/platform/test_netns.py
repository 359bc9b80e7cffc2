"""ctrl.platform.netns against the real kernel: namespaces, veth pairs, raw sockets (needs root)."""

from __future__ import annotations

import os
import select

import pytest

from ctrl.platform import netns

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and veth pairs"),
]


def test_veth_between_namespace_and_root_carries_frames() -> None:
    ns, a, b = f"nt{os.getpid()}", f"nta{os.getpid() % 10**6}", f"ntb{os.getpid() % 10**6}"
    netns.create_netns(ns)
    try:
        netns.add_veth(a, b, peer_ns=ns)
        assert netns.link_exists(a) and netns.link_exists(b, ns) and not netns.link_exists(b)
        rx = netns.raw_socket(b, ns)
        tx = netns.raw_socket(a)
        frame = bytes.fromhex("ffffffffffff020000000001") + b"\x88\xb5" + b"\x00" * 46
        tx.send(frame)
        assert select.select([rx], [], [], 2)[0], "no frame arrived"
        assert rx.recv(2048) == frame
        rx.close()
        tx.close()
    finally:
        netns.delete_link(a)
        netns.remove_netns(ns)
    assert ns not in netns.list_netns()
    assert not netns.link_exists(a)


def test_errors_are_clear() -> None:
    with pytest.raises(netns.NetnsError, match=r"must have 1\.\.15 characters"):
        netns.add_veth("x" * 16, "y")
    with pytest.raises(netns.NetnsError, match="no interface"):
        netns.set_link_up("nosuchif0")
    with pytest.raises(netns.NetnsError, match="no interface"):
        netns.raw_socket("nosuchif0")
