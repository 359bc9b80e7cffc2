"""ICMP echo as the demo pings with it: the frames scapy reads back, and a pinger on the
loopback (root: a raw socket)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP

from ctrl.lab.rtt import Pinger, checksum, echo_request, parse_reply
from ctrl.platform import netns


def test_an_echo_request_is_what_scapy_reads() -> None:
    raw = echo_request(0x4D01, 7, b"vm-mobility")
    icmp = ICMP(raw)
    assert (icmp.type, icmp.id, icmp.seq, bytes(icmp.payload)) == (8, 0x4D01, 7,
                                                                  b"vm-mobility")
    assert checksum(raw) == 0     # a correct checksum sums to zero
    reply = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(type=0, id=0x4D01, seq=7))
    assert parse_reply(reply) == (0x4D01, 7)
    assert parse_reply(bytes(IP() / ICMP(type=8))) is None
    assert parse_reply(b"\x45") is None


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="a raw socket needs root")
def test_a_pinger_in_a_namespace_of_its_own(tmp_path: Path) -> None:
    ns = f"rtt{hashlib.sha256(str(tmp_path).encode()).hexdigest()[:8]}"
    netns.create_netns(ns)
    try:
        netns.link_set("lo", ns, state="up")
        with Pinger(ns, "127.0.0.1", interval=0.02, timeout=0.5) as p:
            time.sleep(0.5)
        answered = [ms for _, ms in p.samples if ms is not None]
        assert len(answered) >= 10 and all(0 <= ms < 500 for ms in answered)
        # No route out of this namespace: every echo is lost, none leaves it.
        with Pinger(ns, "10.255.255.1", interval=0.05, timeout=0.1) as lost:
            time.sleep(0.4)
        assert lost.samples and all(ms is None for _, ms in lost.samples)
    finally:
        netns.remove_netns(ns)
