"""The quiet filter: C (ext/fp_punt.c) equals its reference (quiet_ref.py) on random
batches and tables, and lets through every frame that may change something; settled
hosts' ARP requests for settled owners of their site are answered beside it, byte for
byte as the controller's Python answers them (ctrl/punt/frames.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrl.fastpath import Backend, native_available
from ctrl.fastpath.quiet import Filtered, QuietFilter, host_key
from ctrl.fastpath.stream import PacketInDecoder
from ctrl.punt.frames import arp_reply as python_reply
from ctrl.punt.frames import parse_arp
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


SITES = [0, 0, 0, 1]   # switch index -> site


def _answering(backend: Backend) -> QuietFilter:
    """Four hosts settled at switch 1 port 3 + h, each owning its address."""
    q = QuietFilter(backend, SITES)
    for h in range(4):
        q.settle(host_key(10, MACS[h]), where(1, 3 + h), IPS[h])
        q.own(10, IPS[h], host_key(10, MACS[h]))
    return q


def _replies(f: Filtered) -> list[tuple[int, bytes]]:
    return [(p, f.replies[60 * k:60 * (k + 1)]) for k, p in enumerate(f.reply_ports)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_settled_host_s_request_is_answered_as_python_answers_it(backend: Backend) -> None:
    q = _answering(backend)
    ask = arp_request(MACS[0], IPS[0], IPS[2])
    f = run(backend, q, [message(ask, 3, 1, 10)] * 2)
    assert (list(f.kept), f.answered, f.quiet) == ([], 2, 0)
    request = parse_arp(ask)
    assert request is not None
    reply = python_reply(request, MACS[2])   # what ControlCore._proxy_arp sends
    assert _replies(f) == [(3, reply), (3, reply)]
    probe = parse_arp(arp_request(MACS[1], 0, IPS[3]))   # an ARP probe (sender address 0)
    assert probe is not None
    g = run(backend, q, [message(arp_request(MACS[1], 0, IPS[3]), 4, 1, 10)])
    assert _replies(g) == [(4, python_reply(probe, MACS[3]))]


@pytest.mark.parametrize("backend", BACKENDS)
def test_what_is_not_answered_comes_through(backend: Backend) -> None:
    q = _answering(backend)
    unknown = message(arp_request(MACS[0], IPS[0], 0x0A0000FE), 3, 1, 10)
    self_ask = message(garp(MACS[0], IPS[0]), 3, 1, 10)            # gratuitous: quiet
    truncated = message(arp_request(MACS[0], IPS[0], IPS[1])[:38], 3, 1, 10)
    other_net = message(arp_request(MACS[0], IPS[0], IPS[1]), 3, 1, 11)   # not settled there
    not_settled = message(arp_request(0x02000000BEEF, 0x0A0000AA, IPS[1]), 3, 1, 10)
    f = run(backend, q, [unknown, self_ask, truncated, other_net, not_settled])
    assert (list(f.kept), f.answered, f.quiet, f.malformed + f.ignored) == ([0, 3, 4], 0, 1, 1)
    q.settle(host_key(10, MACS[2]), where(3, 5), IPS[2])   # the owner now in another site
    ask = message(arp_request(MACS[0], IPS[0], IPS[2]), 3, 1, 10)
    assert list(run(backend, q, [ask]).kept) == [0]
    q.settle(host_key(10, MACS[2]), where(2, 5), IPS[2])   # another switch, same site
    assert run(backend, q, [ask]).answered == 1
    q.forget(host_key(10, MACS[2]))                          # not settled: the core answers
    assert list(run(backend, q, [ask]).kept) == [0]
    q.settle(host_key(10, MACS[2]), where(1, 5), IPS[3])   # its address changed
    assert list(run(backend, q, [ask]).kept) == [0]
    q.forget_all()
    assert list(run(backend, q, [ask]).kept) == [0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_batch_that_may_change_the_answer_sends_the_request_on(backend: Backend) -> None:
    q = _answering(backend)
    ask = message(arp_request(MACS[0], IPS[0], IPS[2]), 3, 1, 10)
    moved = message(rarp(MACS[2]), 9, 2, 10)                 # the owner, elsewhere: a move
    f = run(backend, q, [ask, moved, ask])
    assert (list(f.kept), f.answered) == ([1, 2], 1)
    claim = message(garp(0x02000000BEEF, IPS[2]), 6, 1, 10)  # a new host claims it
    assert list(run(backend, q, [ask, claim, ask]).kept) == [1, 2]
    dhcp = message(ff.dhcp_frame(ff.dhcp(1, 7, MACS[3], msg_type=3)), 6, 1, 10)
    assert list(run(backend, q, [dhcp, ask]).kept) == [0, 1]
    no_net = message(rarp(0x02000000BEEF), 6, 2, 0)        # placed by MAC: any network
    assert list(run(backend, q, [no_net, ask]).kept) == [0, 1]
    assert list(QuietFilter(backend).filter(                 # no sites: no proxy ARP
        PacketInDecoder(SPEC, backend).decode([ask]), 1).kept) == [0]


# Differential: random hosts, ports and kinds of frames; random settling between batches.

rows = st.tuples(st.sampled_from(["rarp", "garp", "reply", "ask", "lldp", "dhcp", "junk"]),
                 st.integers(0, 3), st.integers(1, 4), st.integers(0, 2), st.integers(0, 3))
ops = st.tuples(st.sampled_from(["settle", "settle", "own", "forget", "forget_all"]),
                st.integers(0, 3), st.integers(0, 2), st.integers(1, 4), st.integers(0, 4),
                st.sampled_from([1, 1, 0, 2, 3]))   # mostly where the batches come from


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
@given(st.lists(st.tuples(st.lists(ops, max_size=10), st.lists(rows, max_size=12)),
                min_size=1, max_size=5))
def test_c_equals_reference(rounds: list[tuple[list[tuple[str, int, int, int, int, int]],
                                                list[tuple[str, int, int, int, int]]]]) -> None:
    c, ref = QuietFilter(Backend.NATIVE, SITES), QuietFilter(Backend.REFERENCE, SITES)
    for table_ops, batch_rows in rounds:
        for op, h, vnet, port, ip, switch in table_ops:
            for q in (c, ref):
                if op == "settle" and vnet:   # ip 4: its own address, as it sends it
                    q.settle(host_key(vnet, MACS[h]), where(switch, port),
                             IPS[h] if ip == 4 else IPS[ip] if ip else 0)
                elif op == "own" and vnet:
                    q.own(vnet, IPS[h if ip == 4 else ip], host_key(vnet, MACS[h]))
                elif op == "forget":
                    q.forget(host_key(vnet, MACS[h]))
                elif op == "forget_all":
                    q.forget_all()
        msgs = [message(_frame(kind, h, other), port, 3 if kind == "lldp" else 1, vnet)
                for kind, h, port, vnet, other in batch_rows]
        assert run(Backend.NATIVE, c, msgs) == run(Backend.REFERENCE, ref, msgs)


# The same, from four hosts settled each owning its address (most requests answered),
# with hosts moved, forgotten and settled elsewhere between and within the batches.

asks = st.tuples(st.sampled_from(["ask", "ask", "ask", "rarp", "garp", "reply", "dhcp", "junk"]),
                 st.integers(0, 3), st.sampled_from([0, 0, 0, 0, 1, 7]), st.integers(0, 3),
                 st.sampled_from([10, 10, 10, 11, 0]))
moves = st.tuples(st.sampled_from(["forget", "elsewhere", "other_site", "forget_all"]),
                  st.integers(0, 3))


@needs_c
@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(moves, max_size=2), st.lists(asks, max_size=16)),
                min_size=1, max_size=5))
def test_c_equals_reference_answering(rounds: list[tuple[list[tuple[str, int]],
                                                          list[tuple[str, int, int, int, int]]]]
                                      ) -> None:
    c, ref = _answering(Backend.NATIVE), _answering(Backend.REFERENCE)
    for table_ops, batch_rows in rounds:
        for op, h in table_ops:
            for q in (c, ref):
                key = host_key(10, MACS[h])
                if op == "forget":
                    q.forget(key)
                elif op == "forget_all":
                    q.forget_all()
                else:
                    q.settle(key, where(1 if op == "elsewhere" else 3, 9), IPS[h])
        msgs = [message(_frame(kind, h, other), 3 + h + shift, 1, vnet)
                for kind, h, shift, other, vnet in batch_rows]
        got = run(Backend.NATIVE, c, msgs)
        assert got == run(Backend.REFERENCE, ref, msgs)
        for port, reply in _replies(got):   # each the reply Python makes to its request
            r = parse_arp(reply)
            assert r is not None
            asker, owner = MACS.index(r.tha), IPS.index(r.spa)
            request = parse_arp(arp_request(MACS[asker], IPS[asker], IPS[owner]))
            assert request is not None and port == 3 + asker
            assert reply == python_reply(request, MACS[owner])
