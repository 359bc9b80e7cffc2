"""The quiet filter: C (ext/fp_punt.c) equals its reference (quiet_ref.py) on random
batches and tables, and lets through every frame that may change something."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrl.fastpath import Backend, native_available
from ctrl.fastpath.quiet import Filtered, QuietFilter, host_key
from ctrl.fastpath.stream import PacketInDecoder
from ctrl.punt.lldp import build_lldp
from tests.fastpath import frames as ff
from tests.fastpath.messages import arp_reply, arp_request, garp, message, mobility_spec, rarp

needs_c = pytest.mark.skipif(not native_available(), reason="the C fast path is not built here")
BACKENDS = [pytest.param(Backend.NATIVE, marks=needs_c), Backend.REFERENCE]
SPEC = mobility_spec()
MACS = [0x020000000001 + i for i in range(4)]
IPS = [0x0A000001 + i for i in range(4)]
LLDP_SRC = b"\x02\x00\x00\x00\x00\xfe"


def run(backend: Backend, quiet: QuietFilter, msgs: list[bytes], switch: int = 1) -> Filtered:
    return quiet.filter(PacketInDecoder(SPEC, backend).decode(msgs), switch)


def where(switch: int, port: int) -> int:
    return switch << 16 | port


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_settled_host_where_it_is_is_quiet(backend: Backend) -> None:
    q = QuietFilter(backend)
    mac, ip = MACS[0], IPS[0]
    batch = [message(rarp(mac), 3, 2, 10), message(garp(mac, ip), 3, 1, 10),
             message(arp_reply(mac, ip, MACS[1], IPS[1]), 3, 1, 10)]
    assert list(run(backend, q, batch).kept) == [0, 1, 2]
    q.settle(host_key(10, mac), where(1, 3), ip)
    f = run(backend, q, batch)
    assert (list(f.kept), f.quiet) == ([], 3)
    assert list(run(backend, q, batch, switch=2).kept) == [0, 1, 2]   # another switch
    other_ip = [message(garp(mac, IPS[2]), 3, 1, 10)]
    assert list(run(backend, q, other_ip).kept) == [0]                # another address
    q.forget_all()
    assert list(run(backend, q, batch).kept) == [0, 1, 2]


@pytest.mark.parametrize("backend", BACKENDS)
def test_after_a_frame_that_came_through_the_host_s_frames_all_do(backend: Backend) -> None:
    q = QuietFilter(backend)
    mac = MACS[0]
    q.settle(host_key(10, mac), where(1, 3), 0)
    batch = [message(rarp(mac), 3, 2, 10),     # quiet
             message(rarp(mac), 4, 2, 10),     # elsewhere: a move, or a duplicate
             message(rarp(mac), 3, 2, 10),     # back: must be looked at
             message(rarp(MACS[1]), 3, 2, 10)]  # another host, unknown
    f = run(backend, q, batch)
    assert (list(f.kept), f.quiet) == ([1, 2, 3], 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_requests_come_through_lldp_once_a_batch_junk_counted(backend: Backend) -> None:
    q = QuietFilter(backend)
    mac, ip = MACS[0], IPS[0]
    q.settle(host_key(10, mac), where(1, 3), ip)
    ask = message(arp_request(mac, ip, IPS[1]), 3, 1, 10)
    lldp_a = message(build_lldp("s2", 1, LLDP_SRC), 1, 3, 0)
    lldp_b = message(build_lldp("s4", 2, LLDP_SRC), 1, 3, 0)   # another neighbour there
    batch = [ask, ask, lldp_a, lldp_a, lldp_b, lldp_a,
             message(ff.eth(1, 2, 0x0800, ff.ipv4(1, 2, 6, bytes(20))), 3, 1, 10),  # no use
             message(ff.arp_frame()[:30], 3, 1, 10),                # truncated
             message(garp(mac, ip), 3, 1, 10)]                      # still quiet
    f = run(backend, q, batch)
    assert list(f.kept) == [0, 1, 2, 4, 5]
    assert (f.repeated, f.ignored, f.malformed, f.quiet) == (1, 1, 1, 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_host_in_no_network_makes_its_mac_come_through(backend: Backend) -> None:
    q = QuietFilter(backend)
    mac = MACS[0]
    q.settle(host_key(10, mac), where(1, 3), 0)
    f = run(backend, q, [message(rarp(mac), 7, 2, 0), message(rarp(mac), 3, 2, 10),
                         message(rarp(MACS[1]), 3, 2, 10)])
    assert list(f.kept) == [0, 1, 2]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_table_grows(backend: Backend) -> None:
    q = QuietFilter(backend)
    macs = [0x020000100000 + i for i in range(5000)]
    for i, mac in enumerate(macs):
        q.settle(host_key(1 + i % 7, mac), where(i % 3, i % 500), i)
    assert len(q) == 5000
    batch = [message(rarp(mac), i % 500, 2, 1 + i % 7) for i, mac in enumerate(macs)
             if i % 3 == 1]
    f = run(backend, q, batch, switch=1)
    assert (len(f.kept), f.quiet) == (0, len(batch))


# Differential: random hosts, ports and kinds of frames; random settling between batches.

rows = st.tuples(st.sampled_from(["rarp", "garp", "reply", "ask", "lldp", "dhcp", "junk"]),
                 st.integers(0, 3), st.integers(1, 4), st.integers(0, 2), st.integers(0, 3))
ops = st.tuples(st.sampled_from(["settle", "forget", "forget_all"]), st.integers(0, 3),
                st.integers(0, 2), st.integers(1, 4), st.integers(0, 3), st.integers(0, 1))


def _frame(kind: str, h: int, other: int) -> bytes:
    mac, ip = MACS[h], IPS[h]
    if kind == "rarp":
        return rarp(mac)
    if kind == "garp":
        return garp(mac, ip)
    if kind == "reply":
        return arp_reply(mac, ip if other else 0, MACS[other], IPS[other])
    if kind == "ask":
        return arp_request(mac, ip, IPS[other])
    if kind == "lldp":
        return build_lldp(f"s{other}", 1, LLDP_SRC)
    if kind == "dhcp":
        return ff.dhcp_frame(ff.dhcp(1, 7, mac, msg_type=3))
    return ff.arp_frame()[: 20 + other]


@needs_c
@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(ops, max_size=6), st.lists(rows, max_size=12)),
                min_size=1, max_size=5))
def test_c_equals_reference(rounds: list[tuple[list[tuple[str, int, int, int, int, int]],
                                                list[tuple[str, int, int, int, int]]]]) -> None:
    c, ref = QuietFilter(Backend.NATIVE), QuietFilter(Backend.REFERENCE)
    for table_ops, batch_rows in rounds:
        for op, h, vnet, port, ip, switch in table_ops:
            for q in (c, ref):
                if op == "settle" and vnet:
                    q.settle(host_key(vnet, MACS[h]), where(switch, port), IPS[ip] if ip else 0)
                elif op == "forget":
                    q.forget(host_key(vnet, MACS[h]))
                elif op == "forget_all":
                    q.forget_all()
        msgs = [message(_frame(kind, h, other), port, 3 if kind == "lldp" else 1, vnet)
                for kind, h, port, vnet, other in batch_rows]
        assert run(Backend.NATIVE, c, msgs) == run(Backend.REFERENCE, ref, msgs)
