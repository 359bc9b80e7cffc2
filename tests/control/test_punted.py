"""ControlCore.punted (packet-ins as columns, settled hosts' repeats told apart in C)
decides exactly what packet_ins decides on every frame of the same batches: the same
plans, notices, counters and host table, through moves, duplicates, damping, ARP
requests, LLDP and announced migrations; only the quiet frames never become objects."""

from __future__ import annotations

import random

import pytest

from ctrl.control.core import ControlCore, Metrics
from ctrl.control.plans import Plan, replies_apart
from ctrl.control.topology import parse_topology
from ctrl.fastpath import Backend, native_available
from ctrl.fastpath.stream import PacketInDecoder, PuntBatch
from ctrl.punt.classify import classify
from ctrl.punt.frames import parse_arp
from tests.fastpath.messages import (
    FloodHost,
    Punt,
    arp_request,
    flood,
    garp,
    message,
    mobility_spec,
    rarp,
)
from tests.topologies import TOPO, VM2

needs_c = pytest.mark.skipif(not native_available(), reason="the C fast path is not built here")
BACKENDS = [pytest.param(Backend.NATIVE, marks=needs_c), Backend.REFERENCE]
SPEC = mobility_spec()
HOSTS = [FloodHost(10, 0x020000000200 + i, 0x0A000100 + i) for i in range(12)]
EDGES = [("s1", 3), ("s2", 3), ("s3", 3), ("s4", 3)]
LLDP = [("s1", 1, "s2", 1), ("s2", 1, "s1", 1), ("s2", 2, "s4", 1), ("s4", 2, "s1", 2)]


def _every_frame(core: ControlCore, switch: str, batch: PuntBatch, now: float) -> list[Plan]:
    """The controller before columns: every frame classified, every one to the core."""
    recs = list(batch.records)
    seen = classify(recs, [batch.frame(i) for i in range(len(recs))])
    return core.packet_ins(switch, seen, len(recs), now)


def _batches(punts: list[Punt], rng: random.Random) -> list[tuple[str, list[bytes]]]:
    """Runs of one switch's packet-ins, cut at random as a stream's reads would be."""
    out: list[tuple[str, list[bytes]]] = []
    i = 0
    while i < len(punts):
        sw, size = punts[i].switch, rng.randint(1, 40)
        run: list[bytes] = []
        while i < len(punts) and punts[i].switch == sw and len(run) < size:
            run.append(punts[i].message)
            i += 1
        out.append((sw, run))
    return out


def _metrics(m: Metrics) -> Metrics:
    m.quiet = 0
    return m


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_columns_decide_what_every_frame_decides(backend: Backend, seed: int) -> None:
    topo = parse_topology(TOPO + VM2)
    cols, rows = ControlCore(topo), ControlCore(topo)
    cols.quiet = cols.quiet_filter(backend)
    decoder = PacketInDecoder(SPEC, backend)
    rng = random.Random(seed)
    punts = flood(3000, HOSTS, EDGES, LLDP, moves=25, requests=0.05, seed=seed)
    # the same MAC answering at two places at once: a duplicate, reported by both
    dup = HOSTS[0]
    ref = PacketInDecoder(SPEC, Backend.REFERENCE)
    home = next(p.switch for p in reversed(punts[:1500])
                if (eth := ref.decode([p.message]).records[0].eth) and eth.src == dup.mac)
    elsewhere = "s4" if home != "s4" else "s1"
    punts[1500:1500] = [Punt(sw, message(garp(dup.mac, dup.ip), 3, 1, 10))
                        for sw in (elsewhere, home)]
    now, answered = 0.0, 0
    for n, (switch, msgs) in enumerate(_batches(punts, rng)):
        now += rng.choice([0.0005, 0.002, 0.3])
        if n == 40:   # an operator's announcement, and its switch-over, between batches
            for core in (cols, rows):
                core.announce("vm2", "h4", now)
        if n == 45:
            for core in (cols, rows):
                core.switch_over("vm2", now)
        if n % 30 == 29:
            assert cols.tick(now) == rows.tick(now)
        batch = decoder.decode(msgs)
        # settled hosts' requests answered in C come in one plan ahead of the rest
        got = cols.punted(switch, batch, now)
        assert replies_apart(got) == replies_apart(_every_frame(rows, switch, batch, now))
        answered += sum(len(p.outs) for p in got if p.outs)
        assert cols.take_notices() == rows.take_notices()
    assert cols.metrics.quiet > len(punts) // 2   # most frames were repeats
    assert _metrics(cols.metrics) == _metrics(rows.metrics)
    assert cols.metrics.moves > 0 and cols.metrics.learned == len(HOSTS)
    assert cols.metrics.duplicates > 0 and cols.metrics.proxy_arp_replies > 0
    assert answered > 0   # some answered beside the filter
    assert [(h.key, h.location, h.ip) for h in cols.tracker.hosts()] == [
        (h.key, h.location, h.ip) for h in rows.tracker.hosts()]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_settled_host_s_move_is_not_missed(backend: Backend) -> None:
    core = ControlCore(parse_topology(TOPO))
    core.quiet = core.quiet_filter(backend)
    decoder = PacketInDecoder(SPEC, backend)
    mac = HOSTS[0].mac
    seen_at_s1 = decoder.decode([message(rarp(mac), 3, 2, 10)] * 3)
    core.punted("s1", seen_at_s1, 1.0)                  # learned, and settled
    assert core.metrics.quiet == 0
    core.punted("s1", seen_at_s1, 1.1)
    core.punted("s1", seen_at_s1, 1.2)
    assert core.metrics.quiet == 6 and core.metrics.moves == 0
    [plan] = core.punted("s2", decoder.decode([message(rarp(mac), 3, 2, 10)]), 1.3)
    assert plan.moves and core.tracker.get(10, mac).location.switch == "s2"
    core.punted("s1", seen_at_s1, 1.4)                  # back at once: not quiet
    assert core.metrics.quiet == 6 and core.metrics.duplicates == 0   # RARP: moved back
    assert core.tracker.get(10, mac).location.switch == "s1"


@pytest.mark.parametrize("backend", BACKENDS)
def test_requests_answered_in_c_until_their_target_moves(backend: Backend) -> None:
    """A settled host asking for a settled host of its site is answered beside the
    filter, with the bytes, port and counter the core's Python would give; a request
    for a host that moves in the same batch, or sits in another site, goes to the core."""
    core, every = ControlCore(parse_topology(TOPO)), ControlCore(parse_topology(TOPO))
    core.quiet = core.quiet_filter(backend)
    decoder = PacketInDecoder(SPEC, backend)
    a, b = HOSTS[0], HOSTS[1]
    ask = message(arp_request(a.mac, a.ip, b.ip), 3, 1, 10)
    batches = [("s1", [message(garp(a.mac, a.ip), 3, 1, 10)]),
               ("s2", [message(garp(b.mac, b.ip), 3, 1, 10)]),
               ("s1", [ask, ask]),                                    # both answered in C
               ("s1", [ask]),
               ("s4", [message(rarp(b.mac), 3, 2, 10)]),              # b moves, in site a
               ("s1", [ask]),                                         # b settled at s4: C
               ("s3", [message(rarp(b.mac), 3, 2, 10)]),              # b to site b
               ("s1", [ask])]                                         # a tunnel: the core
    in_c = []
    for now, (switch, msgs) in enumerate(batches):
        batch = decoder.decode(msgs)
        got = core.punted(switch, batch, float(now))
        assert replies_apart(got) == replies_apart(_every_frame(every, switch, batch,
                                                                float(now)))
        in_c.append(sum(len(p.outs) for p in got if p.outs))
    assert in_c == [0, 0, 2, 1, 0, 1, 0, 0]
    assert core.metrics.proxy_arp_replies == every.metrics.proxy_arp_replies == 5
    moved = decoder.decode([message(rarp(b.mac), 3, 2, 10), ask])   # back, and asked at once
    got = core.punted("s4", decoder.decode([message(rarp(b.mac), 3, 2, 10)]), 9.0)
    got = core.punted("s1", decoder.decode([ask]), 9.5)
    assert [len(p.outs) for p in got if p.outs] == [1]
    got = core.punted("s1", moved, 10.0)   # b at s1 port 3 in this batch, then asked
    assert not any(p.outs for p in got) and any(p.sends for p in got)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_host_settled_again_with_an_address_another_claimed_first_does_not_answer_it(
        backend: Backend) -> None:
    """o claims x, then p claims x (o stays its owner: the first claimant); o moves to y
    and back to x while p says nothing: x is p's now, and a request for it is answered
    with p's MAC, as the core answers it, not with o's from the filter's old entry."""
    core, every = ControlCore(parse_topology(TOPO)), ControlCore(parse_topology(TOPO))
    core.quiet = core.quiet_filter(backend)
    decoder = PacketInDecoder(SPEC, backend)
    a, o, p = HOSTS[0], HOSTS[1], HOSTS[2]
    x, y = 0x0A000A63, 0x0A000A64
    ask = message(arp_request(a.mac, a.ip, x), 3, 1, 10)
    batches = [("s2", [message(garp(o.mac, x), 3, 1, 10)]),
               ("s4", [message(garp(p.mac, x), 3, 1, 10)]),
               ("s1", [message(garp(a.mac, a.ip), 3, 1, 10)]),
               ("s1", [ask]),
               ("s2", [message(garp(o.mac, y), 3, 1, 10)]),
               ("s2", [message(garp(o.mac, x), 3, 1, 10)]),
               ("s1", [ask]), ("s1", [ask])]
    for now, (switch, msgs) in enumerate(batches):
        batch = decoder.decode(msgs)
        got = replies_apart(core.punted(switch, batch, float(now)))
        assert got == replies_apart(_every_frame(every, switch, batch, float(now))), now
    owner = every.tracker.find_ip(10, x)
    assert owner is not None and owner.mac == p.mac


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", range(6))
def test_contested_addresses_are_answered_as_the_core_answers_them(backend: Backend,
                                                                   seed: int) -> None:
    """Few addresses for many hosts: hosts claim each other's addresses, move, change
    address and ask for addresses, in random batches at random switches; the filter and
    its answers in C decide every batch as a core given every frame does."""
    topo = parse_topology(TOPO)
    cols, rows = ControlCore(topo), ControlCore(topo)
    cols.quiet = cols.quiet_filter(backend)
    decoder = PacketInDecoder(SPEC, backend)
    rng = random.Random(seed)
    hosts = [h.mac for h in HOSTS[:6]]
    addresses = [0x0A000A60 + i for i in range(4)]
    place = {mac: rng.choice(EDGES) for mac in hosts}
    ip = {mac: rng.choice(addresses) for mac in hosts}
    now, answered = 0.0, 0
    for _ in range(300):
        frames: list[tuple[str, bytes]] = []
        for _ in range(rng.randint(1, 6)):
            mac = rng.choice(hosts)
            roll = rng.random()
            if roll < 0.1:
                place[mac] = rng.choice(EDGES)
                frame = rarp(mac)
            elif roll < 0.2:
                ip[mac] = rng.choice(addresses)
                frame = garp(mac, ip[mac])
            elif roll < 0.4:
                frame = garp(mac, ip[mac])
            else:
                frame = arp_request(mac, ip[mac], rng.choice(addresses))
            switch, port = place[mac]
            frames.append((switch, message(frame, port, 1, 10)))
        switch = frames[0][0]   # a batch is one switch's
        msgs = [m for s, m in frames if s == switch]
        now += rng.choice([0.0005, 0.002, 0.3])
        batch = decoder.decode(msgs)
        got = cols.punted(switch, batch, now)
        assert replies_apart(got) == replies_apart(_every_frame(rows, switch, batch, now))
        answered += sum(len(p.outs) for p in got if p.outs)
    assert answered > 0   # some were answered beside the filter
    assert cols.metrics.proxy_arp_replies == rows.metrics.proxy_arp_replies


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_probe_for_its_own_address_is_not_answered(backend: Backend) -> None:
    """An RFC 5227 probe (sender address 0) by a settled host for its own address gets no
    answer, in C or from the core (an answer with its own MAC would read as a conflict);
    another host's probe for that address is answered with its owner's MAC."""
    core, every = ControlCore(parse_topology(TOPO)), ControlCore(parse_topology(TOPO))
    core.quiet = core.quiet_filter(backend)
    decoder = PacketInDecoder(SPEC, backend)
    a, b = HOSTS[0], HOSTS[1]
    own = message(arp_request(a.mac, 0, a.ip), 3, 1, 10)
    other = message(arp_request(b.mac, 0, a.ip), 3, 1, 10)
    batches = [("s1", [message(garp(a.mac, a.ip), 3, 1, 10)]),
               ("s2", [message(garp(b.mac, b.ip), 3, 1, 10)]),
               ("s1", [own]), ("s1", [own, own]), ("s2", [other])]
    sent = []
    for now, (switch, msgs) in enumerate(batches):
        batch = decoder.decode(msgs)
        got = replies_apart(core.punted(switch, batch, float(now)))
        assert got == replies_apart(_every_frame(every, switch, batch, float(now))), now
        arps = [parse_arp(frame) for _, _, frame in got[1]]
        sent.append([arp.sha for arp in arps if arp is not None])
    assert sent[2:] == [[], [], [a.mac]]
