"""ctrl.lab.report on made-up probe records: loss, duplicates, reordering, gaps, TCP."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctrl.lab.report import (
    Arrival,
    Chunk,
    Mark,
    Report,
    ReportError,
    TcpTrace,
    UdpTrace,
    build_report,
    tcp_result,
    udp_result,
)

RATE = 1000.0  # datagrams/s: one every millisecond
LATENCY = 0.0001


def stream(sent: int, arrived: Sequence[int]) -> UdpTrace:
    """`sent` datagrams one a millisecond; `arrived` lists the sequence numbers in the
    order they arrive, each one latency after its send but not before the one ahead."""
    sends = [i / RATE for i in range(sent)]
    arrivals: list[Arrival] = []
    clock = 0.0
    for seq in arrived:
        clock = max(clock, sends[seq] + LATENCY)
        arrivals.append(Arrival(seq, sends[seq], clock))
        clock += 1e-6
    return UdpTrace("a -> b", RATE, sends, arrivals)


def tcp(sent: int, chunks: Sequence[tuple[float, int]], *, eof: bool = True,
        in_order: bool = True, error: str | None = None) -> TcpTrace:
    return TcpTrace("a -> b", 1e6, sent, 0.0, max((t for t, _ in chunks), default=0.0),
                    [Chunk(t, n) for t, n in chunks], in_order, eof, error)


def test_a_clean_stream_has_nothing_to_report() -> None:
    r = udp_result(stream(1000, range(1000)))
    assert (r.sent, r.received, r.lost, r.duplicated, r.reordered) == (1000, 1000, 0, 0, 0)
    assert r.longest_gap_ms == pytest.approx(1.0, abs=0.01)
    assert r.interruption_ms == pytest.approx(0.0, abs=0.01)
    assert r.interruptions == []
    assert r.delay_ms_median == pytest.approx(0.1)


def test_a_burst_of_loss_is_the_longest_gap_and_an_interruption() -> None:
    r = udp_result(stream(1000, [*range(300), *range(500, 1000)]))
    assert (r.received, r.lost, r.duplicated, r.reordered) == (800, 200, 0, 0)
    assert r.longest_gap_ms == pytest.approx(201.0, abs=0.01)
    assert r.longest_gap_at == pytest.approx(0.2991, abs=1e-6)
    assert r.interruption_ms == pytest.approx(200.0, abs=0.01)
    [gap] = r.interruptions
    assert gap.ms == r.longest_gap_ms
    assert r.longest_gap_between(0.35, 0.4) == gap
    assert r.longest_gap_between(0.6, 0.9) is None


def test_a_burst_of_loss_is_lost_for_as_long_as_it_was_sent() -> None:
    r = udp_result(stream(1000, [*range(300), *range(500, 1000)]))
    assert r.longest_loss_ms == pytest.approx(200.0, abs=0.01)
    assert r.longest_loss_at == pytest.approx(0.3, abs=1e-6)
    [loss] = r.losses
    assert r.longest_loss_between(0.4, 0.45) == loss
    assert r.longest_loss_between(0.6, 0.9) is None
    clean = udp_result(stream(1000, range(1000)))
    assert (clean.longest_loss_ms, clean.losses) == (0.0, [])
    tail = udp_result(stream(1000, range(900)))
    assert tail.longest_loss_ms == pytest.approx(100.0, abs=0.01)   # to one interval on


def test_late_datagrams_make_a_gap_but_no_loss() -> None:
    # A peer that holds datagrams 100 ms (a guest resuming slowly) and then lets them go.
    sends = [i / RATE for i in range(1000)]
    arrivals = [Arrival(q, sends[q], sends[q] + LATENCY) for q in range(500)]
    arrivals += [Arrival(q, sends[q], max(sends[q] + LATENCY, 0.6)) for q in range(500, 1000)]
    r = udp_result(UdpTrace("a -> b -> a", RATE, sends, arrivals))
    assert r.lost == 0 and r.longest_loss_ms == 0.0 and r.losses == []
    assert r.longest_gap_ms == pytest.approx(100.9, abs=0.01)


def test_loss_at_the_end_still_counts_as_a_gap() -> None:
    r = udp_result(stream(1000, range(900)))
    assert r.lost == 100
    assert r.longest_gap_ms == pytest.approx(99.9, abs=0.01)  # to the last send


def test_nothing_arrived() -> None:
    r = udp_result(stream(500, []))
    assert (r.received, r.lost) == (0, 500)
    assert r.longest_gap_ms == pytest.approx(499.0)
    assert r.delay_ms_median is None


def test_duplicates_are_counted_once_and_apart() -> None:
    r = udp_result(stream(10, [0, 1, 2, 2, 3, 4, 4, 4, 5, 6, 7, 8, 9]))
    assert (r.received, r.lost, r.duplicated, r.reordered) == (10, 0, 3, 0)


def test_reordering_counts_each_datagram_that_overtook_nothing() -> None:
    r = udp_result(stream(10, [0, 2, 1, 3, 6, 4, 5, 7, 8, 9]))
    assert (r.received, r.lost, r.duplicated, r.reordered) == (10, 0, 0, 3)


def test_a_stalled_sender_is_told_apart_from_the_network() -> None:
    sends = [i / RATE for i in range(100)] + [0.2 + i / RATE for i in range(100)]
    trace = UdpTrace("a -> b", RATE, sends, [Arrival(i, t, t + LATENCY)
                                              for i, t in enumerate(sends)])
    r = udp_result(trace)
    assert r.lost == 0
    assert r.longest_gap_ms == pytest.approx(r.send_gap_ms, abs=0.01)
    assert r.send_gap_ms == pytest.approx(101.0, abs=0.01)


@given(st.lists(st.integers(0, 199), max_size=400))
def test_udp_counts_add_up(arrived: list[int]) -> None:
    r = udp_result(stream(200, arrived))
    distinct = list(dict.fromkeys(arrived))
    assert r.received + r.lost == r.sent == 200
    assert r.received == len(distinct)
    assert r.duplicated == len(arrived) - len(distinct)
    assert (r.reordered == 0) == (distinct == sorted(distinct))
    times = sorted(a.arrived for a in stream(200, arrived).arrivals)
    assert all(r.longest_gap_ms >= (b - a) * 1000 - 1e-6 for a, b in pairwise(times))


def test_an_incomplete_tcp_stream_is_not_complete_but_may_have_survived() -> None:
    r = tcp_result(tcp(1000, [(0.1, 400), (0.2, 200)], eof=False))
    assert (r.bytes_received, r.complete, r.in_order, r.survived) == (600, False, True, True)
    broken = tcp_result(tcp(1000, [(0.1, 400)], eof=False, error="read: Connection reset"))
    assert (broken.complete, broken.survived) == (False, False)
    assert broken.error == "read: Connection reset"


def test_a_whole_tcp_stream_is_complete_and_its_stall_is_found() -> None:
    r = tcp_result(tcp(1000, [(0.01, 250), (0.02, 250), (0.35, 250), (0.36, 250)]))
    assert (r.complete, r.in_order, r.survived) == (True, True, True)
    assert r.longest_stall_ms == pytest.approx(330.0)
    assert r.longest_stall_at == pytest.approx(0.02)
    assert not tcp_result(tcp(1000, [(0.01, 1000)], in_order=False)).complete


def report(udp: Sequence[UdpTrace], tcps: Sequence[TcpTrace] = ()) -> Report:
    return build_report(a="a (10.99.0.1)", b="b (10.99.0.2)", started="2024-01-01T00:00:00Z",
                        duration_s=1.0, udp=udp, tcp=tcps,
                        marks=[Mark("migration vm1 -> h3 end", 0.5),
                               Mark("migration vm1 -> h3 start", 0.3)])


def test_throughput_is_binned_per_direction_in_units_for_the_plot() -> None:
    r = report([stream(1000, [*range(300), *range(500, 1000)])],
               [tcp(1000, [(0.001, 500), (0.002, 500)])])
    udp, tcps = r.series
    assert (udp.name, udp.unit, tcps.name, tcps.unit) == (
        "udp a -> b", "packets/s", "tcp a -> b", "Mbit/s")
    assert len(udp.values) == len(tcps.values) == 100  # 1 s in 10 ms bins
    assert udp.values[10] == pytest.approx(1000.0)
    assert udp.values[35] == 0.0
    assert tcps.values[0] == pytest.approx(1000 * 8 / 0.01 / 1e6)


def test_marks_come_through_in_time_order() -> None:
    r = report([stream(10, range(10))])
    assert [m.name for m in r.marks] == ["migration vm1 -> h3 start", "migration vm1 -> h3 end"]


@given(st.lists(st.integers(0, 99), max_size=150), st.lists(st.integers(1, 5000), max_size=20),
       st.booleans())
def test_json_round_trip(arrived: list[int], sizes: list[int], eof: bool) -> None:
    chunks = [(i / 100, n) for i, n in enumerate(sizes)]
    r = report([stream(100, arrived)], [tcp(sum(sizes), chunks, eof=eof)])
    assert Report.from_json(r.to_json()) == r


def test_bad_json_is_a_clear_error() -> None:
    with pytest.raises(ReportError, match="not a probe report"):
        Report.from_json("{")
    with pytest.raises(ReportError, match="report format"):
        Report.from_json('{"version": 99}')
    with pytest.raises(ReportError, match="not a probe report"):
        Report.from_json(report([stream(1, [0])]).to_json().replace('"lost"', '"lust"'))


def test_the_summary_is_a_few_lines_that_name_what_matters() -> None:
    r = report([stream(1000, [*range(300), *range(500, 1000)])],
               [tcp(1000, [(0.1, 400)], eof=False, error="read: Connection reset")])
    text = r.summary()
    assert 3 <= len(text.splitlines()) <= 6
    assert "200 lost" in text and "longest gap 201.0 ms" in text
    assert "INCOMPLETE" in text and "BROKEN (read: Connection reset)" in text
    assert "0.30 s migration vm1 -> h3 start" in text
