"""ctrl.lab.probe between two namespaces joined by a veth pair (root), and its errors.

  [pa<pid>] 10.99.0.1/24 --veth-- 10.99.0.2/24 [pb<pid>]

Only the addresses made here carry test traffic. The assertions are about what
arrived, never how fast, beyond the lower bounds an outage sets.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from ctrl import netns
from ctrl.lab.probe import Endpoint, Probe, ProbeError, ProbeOptions, Progress
from ctrl.lab.report import Report

root = pytest.mark.root
needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root for namespaces and veth pairs")
A_IP, B_IP = "10.99.0.1", "10.99.0.2"
OUTAGE_S = 0.2


@dataclass(frozen=True)
class Pair:
    a: Endpoint
    b: Endpoint
    a_link: str  # the veth end in a's namespace


@pytest.fixture
def pair() -> Iterator[Pair]:
    tag = os.getpid() % 10**6
    ns_a, ns_b, veth_a, veth_b = f"pa{tag}", f"pb{tag}", f"pva{tag}", f"pvb{tag}"
    with contextlib.ExitStack() as stack:
        for ns in (ns_a, ns_b):
            netns.create_netns(ns)
            stack.callback(netns.remove_netns, ns)  # takes the veth with it
        netns.add_veth(veth_a, veth_b, peer_ns=ns_b)
        stack.callback(netns.delete_link, veth_a)  # in case it never left the root namespace
        netns.link_set(veth_a, net_ns_fd=ns_a)
        for ns, link, address in ((ns_a, veth_a, A_IP), (ns_b, veth_b, B_IP)):
            netns.addr_add(link, address, 24, ns)
            netns.set_link_up(link, ns)
        yield Pair(Endpoint(ns_a, A_IP, "a"), Endpoint(ns_b, B_IP, "b"), veth_a)


def probe_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("probe ")]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def assert_clean(report: Report) -> None:
    for u in report.udp:
        assert u.sent > 0 and (u.lost, u.duplicated, u.reordered) == (0, 0, 0), u
    for t in report.tcp:
        assert t.bytes_sent > 0 and t.complete and t.in_order and t.survived, t


@root
@needs_root
def test_two_seconds_on_a_quiet_link_lose_nothing(pair: Pair) -> None:
    fds = open_fds()
    seen: list[Progress] = []
    report = Probe(pair.a, pair.b, progress=seen.append).run(duration=2.0)
    assert [u.direction for u in report.udp] == ["a -> b", "b -> a"]
    assert_clean(report)
    assert len(report.tcp) == 2 and not report.errors and not report.interrupted
    assert seen and "a -> b: udp" in seen[0].line()
    assert Report.from_json(report.to_json()) == report
    assert not probe_threads() and open_fds() == fds
    print(report.summary())


@root
@needs_root
def test_an_outage_shows_as_loss_and_a_gap_and_tcp_survives_it(pair: Pair) -> None:
    with Probe(pair.a, pair.b) as probe:
        time.sleep(0.9)
        down = probe.mark("link down")
        netns.link_set(pair.a_link, pair.a.netns, state="down")
        time.sleep(OUTAGE_S)
        netns.set_link_up(pair.a_link, pair.a.netns)
        up = probe.mark("link up")
        time.sleep(0.9)
    report = probe.report
    assert report is not None
    print(report.summary())
    assert report.marks == [down, up]
    assert report.udp[0].lost > 0  # a's sends while its link is down go nowhere
    for u in report.udp:  # and nothing can arrive at a, nor leave it for b
        assert u.longest_gap_ms >= OUTAGE_S * 1000
        gap = u.longest_gap_between(down.at, up.at)
        assert gap is not None and gap.ms >= OUTAGE_S * 1000
    for t in report.tcp:
        assert t.survived and t.complete and t.in_order, t
        assert t.longest_stall_ms >= OUTAGE_S * 1000


@root
@needs_root
def test_ctrl_c_stops_the_probe_and_still_reports(pair: Pair) -> None:
    fds = open_fds()
    main = threading.get_ident()
    assert main == threading.main_thread().ident

    def ctrl_c(progress: Progress) -> None:  # on the probe's thread, once run() waits
        if progress.elapsed_s < 1.5:
            signal.pthread_kill(main, signal.SIGINT)

    report = Probe(pair.a, pair.b, ProbeOptions(tcp_rate=0), ctrl_c).run()  # till Ctrl-C
    assert report.interrupted and not report.tcp
    assert report.udp[0].sent > 0 and report.udp[0].received > 0
    assert not probe_threads() and open_fds() == fds


@root
@needs_root
def test_an_error_in_the_body_closes_everything_and_keeps_the_report(pair: Pair) -> None:
    fds = open_fds()
    probe = Probe(pair.a, pair.b)
    with pytest.raises(RuntimeError, match="boom"), probe:
        time.sleep(0.3)
        raise RuntimeError("boom")
    assert probe.report is not None and probe.report.udp[0].sent > 0
    assert not probe_threads() and open_fds() == fds


@root
@needs_root
def test_an_address_that_is_not_there_is_a_clear_error(pair: Pair) -> None:
    fds = open_fds()
    stranger = Endpoint(pair.b.netns, "10.99.0.77", "b")
    with pytest.raises(ProbeError, match=rf"10\.99\.0\.77 is not an address of .*{pair.b.netns}"):
        Probe(pair.a, stranger).start()
    assert not probe_threads() and open_fds() == fds


def test_a_namespace_that_is_not_there_is_a_clear_error() -> None:
    probe = Probe(Endpoint("no-such-ns-lab", A_IP), Endpoint("no-such-ns-lab2", B_IP))
    with pytest.raises(netns.NetnsError, match="no network namespace 'no-such-ns-lab'"):
        probe.start()
    assert not probe_threads()


def test_bad_endpoints_and_options_are_refused() -> None:
    with pytest.raises(ProbeError, match="not an IPv4 address"):
        Probe(Endpoint(None, "10.99.0.300"), Endpoint(None, B_IP))
    with pytest.raises(ProbeError, match="both ends"):
        Probe(Endpoint("x", A_IP), Endpoint("x", A_IP))
    with pytest.raises(ValueError, match="udp_rate"):
        ProbeOptions(udp_rate=0)
    with pytest.raises(ProbeError, match="not started"):
        Probe(Endpoint(None, A_IP), Endpoint(None, B_IP)).stop()
