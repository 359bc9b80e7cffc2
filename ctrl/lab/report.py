"""What a probe saw, as figures: loss, duplicates, reordering, gaps, stalls, throughput.

Pure: it takes what the senders sent and the receivers got (times in seconds since
the probe's start, on one monotonic clock) and computes a `Report`, which turns into
JSON and back, and into a few lines for a terminal. Nothing here reads a clock or a
socket; `ctrl.lab.probe` does that.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

from ctrl.errors import MobilityError

FORMAT_VERSION = 1
DEFAULT_BIN_S = 0.010
# A gap between arrivals is listed as an interruption from this length on (and from
# three nominal intervals on, whichever is longer): short enough for milliseconds,
# long enough that the probe's own scheduling jitter does not fill the list.
DEFAULT_MIN_INTERRUPTION_MS = 10.0
MAX_INTERRUPTIONS = 50


class ReportError(MobilityError, ValueError):
    """A report that cannot be read back (bad JSON, missing or unknown fields)."""


# ---- what the probe recorded (inputs) ----

@dataclass(frozen=True, slots=True)
class Arrival:
    """One datagram as a receiver got it."""

    seq: int
    sent: float  # the sender's send time, carried in the datagram
    arrived: float


@dataclass(frozen=True, slots=True)
class UdpTrace:
    """One direction of the UDP stream: when each sequence number was sent, what arrived."""

    direction: str
    rate: float  # nominal datagrams per second
    sends: Sequence[float]  # send time of sequence number 0, 1, 2, ...
    arrivals: Sequence[Arrival]  # in the order they arrived
    send_errors: int = 0  # sends the kernel refused (e.g. no route while a link is down)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One read from a TCP socket."""

    arrived: float
    size: int


@dataclass(frozen=True, slots=True)
class TcpTrace:
    """One direction of the TCP connection."""

    direction: str
    rate: float  # nominal bytes per second
    bytes_sent: int
    first_send: float | None
    last_send: float | None
    chunks: Sequence[Chunk]
    in_order: bool  # every byte read equalled the pattern byte at its offset
    eof: bool  # the reader got the end of the stream after the writer finished
    error: str | None = None  # what broke the connection in this direction, if anything


# ---- the report (outputs) ----

@dataclass(frozen=True, slots=True)
class Gap:
    """A time without arrivals: from `at` (s since the start), `ms` long."""

    at: float
    ms: float


@dataclass(frozen=True, slots=True)
class Mark:
    """A named instant, e.g. "migration vm1 -> h3 start"."""

    name: str
    at: float


@dataclass(frozen=True, slots=True)
class UdpResult:
    direction: str
    rate: float
    sent: int
    received: int  # distinct sequence numbers
    lost: int
    duplicated: int  # extra copies
    reordered: int  # arrived after a higher sequence number
    send_errors: int
    longest_gap_ms: float
    longest_gap_at: float
    interruption_ms: float  # the longest gap less the nominal interval
    send_gap_ms: float  # the sender's own longest pause: a gap the network did not make
    delay_ms_median: float | None  # one-way: meaningful where both ends share a clock
    delay_ms_max: float | None
    interruptions: list[Gap] = field(default_factory=list)  # every long gap, in time order
    # Loss seen from the sender: how long everything sent was lost for, from the first
    # datagram of a run that never arrived to the next one that did (send times). Unlike
    # a gap at the receiver, late datagrams do not lengthen it: a peer that is slow to
    # echo (a guest just migrated) shows in the gap, not here.
    longest_loss_ms: float = 0.0
    longest_loss_at: float = 0.0
    losses: list[Gap] = field(default_factory=list)  # every long run of loss, in time order

    @property
    def interval_ms(self) -> float:
        return 1000.0 / self.rate if self.rate > 0 else 0.0

    def longest_gap_between(self, start: float, end: float) -> Gap | None:
        """The longest listed interruption that overlaps [start, end] (s), e.g. a migration."""
        return _longest_between(self.interruptions, start, end)

    def longest_loss_between(self, start: float, end: float) -> Gap | None:
        """The longest listed run of loss that overlaps [start, end] (s)."""
        return _longest_between(self.losses, start, end)


def _longest_between(listed: Sequence[Gap], start: float, end: float) -> Gap | None:
    inside = [g for g in listed if g.at <= end and g.at + g.ms / 1000 >= start]
    return max(inside, key=lambda g: g.ms, default=None)


@dataclass(frozen=True, slots=True)
class TcpResult:
    direction: str
    rate: float
    bytes_sent: int
    bytes_received: int
    complete: bool  # every byte sent arrived, and the end of the stream too
    in_order: bool
    survived: bool  # no reset, no error, no early end
    error: str | None
    longest_stall_ms: float
    longest_stall_at: float


@dataclass(frozen=True, slots=True)
class Series:
    """Throughput in bins of the report's `bin_ms`, the first bin starting at 0."""

    name: str
    unit: str
    values: list[float]


@dataclass(frozen=True, slots=True)
class Report:
    a: str
    b: str
    started: str  # wall-clock start, ISO 8601, for the record only
    duration_s: float
    interrupted: bool
    bin_ms: float
    udp: list[UdpResult]
    tcp: list[TcpResult]
    series: list[Series]
    marks: list[Mark]
    errors: list[str] = field(default_factory=list)
    version: int = FORMAT_VERSION

    @property
    def longest_gap_ms(self) -> float:
        """The interruption figure: the longest UDP gap of either direction."""
        return max((u.longest_gap_ms for u in self.udp), default=0.0)

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(asdict(self), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> Report:
        try:
            data = json.loads(text)
            return _report_from_dict(data)
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ReportError(f"not a probe report: {exc}") from exc

    def summary(self) -> str:
        return "\n".join(summary_lines(self))


def _report_from_dict(data: Mapping[str, Any]) -> Report:
    if data.get("version") != FORMAT_VERSION:
        raise ReportError(f"report format {data.get('version')!r}, expected {FORMAT_VERSION}")
    udp = [UdpResult(**{**u, "interruptions": [Gap(**g) for g in u["interruptions"]],
                        "losses": [Gap(**g) for g in u.get("losses", [])]})
           for u in data["udp"]]
    return Report(**{**data, "udp": udp,
                     "tcp": [TcpResult(**t) for t in data["tcp"]],
                     "series": [Series(**s) for s in data["series"]],
                     "marks": [Mark(**m) for m in data["marks"]]})


# ---- the computation ----

def gaps(times: Iterable[float], min_ms: float = math.inf) -> tuple[Gap, list[Gap]]:
    """The longest gap between consecutive instants, and every gap of at least `min_ms`."""
    ordered = sorted(times)
    longest = Gap(ordered[0] if ordered else 0.0, 0.0)
    listed: list[Gap] = []
    for before, after in pairwise(ordered):
        ms = (after - before) * 1000
        if ms > longest.ms:
            longest = Gap(before, ms)
        if ms >= min_ms:
            listed.append(Gap(before, ms))
    return longest, listed


def _bounded(points: Sequence[float], first: float | None, last: float | None) -> list[float]:
    """Arrival times with the sending period's ends: silence before the first arrival
    or after the last one counts too (a stream cut at its end still has a gap)."""
    bounded = sorted(points)
    if first is not None and (not bounded or first < bounded[0]):
        bounded.insert(0, first)
    if last is not None and (not bounded or last > bounded[-1]):
        bounded.append(last)
    return bounded


def losses(sends: Sequence[float], received: set[int], interval_s: float,
           min_ms: float = math.inf) -> tuple[Gap, list[Gap]]:
    """Runs of sequence numbers that never arrived: from the first one's send time to the
    next arrival's (a run at the end: to one interval after the last send); the longest
    run, and every one of at least `min_ms`."""
    longest = Gap(0.0, 0.0)
    listed: list[Gap] = []
    first: int | None = None
    for seq in range(len(sends) + 1):
        if seq < len(sends) and seq not in received:
            first = seq if first is None else first
            continue
        if first is not None:
            until = sends[seq] if seq < len(sends) else sends[-1] + interval_s
            run = Gap(sends[first], (until - sends[first]) * 1000)
            longest = max(longest, run, key=lambda g: g.ms)
            if run.ms >= min_ms:
                listed.append(run)
            first = None
    return longest, listed


def _top(listed: list[Gap]) -> list[Gap]:
    longest = sorted(listed, key=lambda g: g.ms, reverse=True)[:MAX_INTERRUPTIONS]
    return [Gap(round(g.at, 6), round(g.ms, 3)) for g in sorted(longest, key=lambda g: g.at)]


def udp_result(trace: UdpTrace, min_interruption_ms: float = DEFAULT_MIN_INTERRUPTION_MS
               ) -> UdpResult:
    arrivals = sorted(trace.arrivals, key=lambda a: a.arrived)
    seen: set[int] = set()
    duplicated = reordered = 0
    highest = -1
    for arrival in arrivals:
        if arrival.seq in seen:
            duplicated += 1
            continue
        seen.add(arrival.seq)
        if arrival.seq < highest:
            reordered += 1
        else:
            highest = arrival.seq
    sent = len(trace.sends)
    received = sum(1 for seq in seen if 0 <= seq < sent)
    interval_ms = 1000.0 / trace.rate if trace.rate > 0 else 0.0
    first = trace.sends[0] if trace.sends else None
    last = trace.sends[-1] if trace.sends else None
    min_ms = max(min_interruption_ms, 3 * interval_ms)
    longest, listed = gaps(_bounded([a.arrived for a in arrivals], first, last), min_ms)
    longest_loss, lossy = losses(trace.sends, seen, interval_ms / 1000, min_ms)
    send_gap, _ = gaps(trace.sends)
    delays = [(a.arrived - a.sent) * 1000 for a in arrivals]
    return UdpResult(
        direction=trace.direction, rate=trace.rate, sent=sent, received=received,
        lost=sent - received, duplicated=duplicated, reordered=reordered,
        send_errors=trace.send_errors,
        longest_gap_ms=round(longest.ms, 3), longest_gap_at=round(longest.at, 6),
        interruption_ms=round(max(0.0, longest.ms - interval_ms), 3),
        send_gap_ms=round(send_gap.ms, 3),
        delay_ms_median=round(statistics.median(delays), 3) if delays else None,
        delay_ms_max=round(max(delays), 3) if delays else None,
        interruptions=_top(listed), longest_loss_ms=round(longest_loss.ms, 3),
        longest_loss_at=round(longest_loss.at, 6), losses=_top(lossy))


def tcp_result(trace: TcpTrace) -> TcpResult:
    received = sum(c.size for c in trace.chunks)
    stall, _ = gaps(_bounded([c.arrived for c in trace.chunks],
                             trace.first_send, trace.last_send))
    return TcpResult(
        direction=trace.direction, rate=trace.rate, bytes_sent=trace.bytes_sent,
        bytes_received=received,
        complete=trace.eof and trace.in_order and received == trace.bytes_sent,
        in_order=trace.in_order, survived=trace.error is None, error=trace.error,
        longest_stall_ms=round(stall.ms, 3), longest_stall_at=round(stall.at, 6))


def binned(events: Iterable[tuple[float, float]], bin_s: float, bins: int) -> list[float]:
    """Sum of weights per bin of `bin_s` seconds from 0, as a rate (weight per second)."""
    totals = [0.0] * bins
    for at, weight in events:
        index = int(at // bin_s)
        if 0 <= index < bins:
            totals[index] += weight
    return [round(t / bin_s, 3) for t in totals]


def throughput(udp: Sequence[UdpTrace], tcp: Sequence[TcpTrace], duration_s: float,
               bin_s: float = DEFAULT_BIN_S) -> list[Series]:
    """UDP packets/s and TCP Mbit/s per direction, over the probe's whole run."""
    ends = [duration_s, *(a.arrived for t in udp for a in t.arrivals[-1:]),
            *(c.arrived for t in tcp for c in t.chunks[-1:])]
    bins = max(1, math.ceil(max(ends) / bin_s))
    series = [Series(f"udp {t.direction}", "packets/s",
                     binned(((a.arrived, 1.0) for a in t.arrivals), bin_s, bins)) for t in udp]
    series += [Series(f"tcp {t.direction}", "Mbit/s",
                      binned(((c.arrived, c.size * 8e-6) for c in t.chunks), bin_s, bins))
               for t in tcp]
    return series


def build_report(*, a: str, b: str, started: str, duration_s: float,
                 udp: Sequence[UdpTrace], tcp: Sequence[TcpTrace],
                 marks: Sequence[Mark] = (), interrupted: bool = False,
                 errors: Sequence[str] = (), bin_s: float = DEFAULT_BIN_S,
                 min_interruption_ms: float = DEFAULT_MIN_INTERRUPTION_MS) -> Report:
    if bin_s <= 0:
        raise ValueError(f"bin width must be positive, not {bin_s}")
    return Report(
        a=a, b=b, started=started, duration_s=round(duration_s, 6), interrupted=interrupted,
        bin_ms=bin_s * 1000,
        udp=[udp_result(t, min_interruption_ms) for t in udp],
        tcp=[tcp_result(t) for t in tcp],
        series=throughput(udp, tcp, duration_s, bin_s),
        marks=[Mark(m.name, round(m.at, 6)) for m in sorted(marks, key=lambda m: m.at)],
        errors=list(errors))


# ---- for a terminal ----

def _megabytes(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def summary_lines(report: Report) -> list[str]:
    udp_rates = sorted({f"{u.rate:g}/s" for u in report.udp})
    tcp_rates = sorted({f"{_megabytes(t.rate)}/s" for t in report.tcp})
    head = f"probe {report.a} <-> {report.b}: {report.duration_s:.2f} s"
    way = "each way" if len(report.udp) > 1 else "echoed back"   # one direction: a round trip
    head += "".join(f", udp {r} {way}" for r in udp_rates)
    head += "".join(f", tcp {r} {way}" for r in tcp_rates)
    lines = [head + (" (interrupted)" if report.interrupted else "")]
    for u in report.udp:
        lines.append(
            f"udp {u.direction}: {u.sent} sent, {u.received} received, {u.lost} lost, "
            f"{u.duplicated} duplicated, {u.reordered} reordered; longest gap "
            f"{u.longest_gap_ms:.1f} ms at {u.longest_gap_at:.2f} s "
            f"({u.interruption_ms:.1f} ms over the {u.interval_ms:g} ms interval; "
            f"the sender's own longest pause {u.send_gap_ms:.1f} ms)"
            + (f"; all it sent lost for {u.longest_loss_ms:.1f} ms at "
               f"{u.longest_loss_at:.2f} s" if u.lost else ""))
    for t in report.tcp:
        state = ", ".join([
            "complete" if t.complete else "INCOMPLETE",
            "in order" if t.in_order else "CORRUPTED",
            "survived" if t.survived else f"BROKEN ({t.error})"])
        lines.append(
            f"tcp {t.direction}: {_megabytes(t.bytes_received)} of "
            f"{_megabytes(t.bytes_sent)}, {state}; longest stall "
            f"{t.longest_stall_ms:.1f} ms at {t.longest_stall_at:.2f} s")
    if report.marks:
        lines.append("marks: " + "; ".join(f"{m.at:.2f} s {m.name}" for m in report.marks))
    lines += [f"error: {e}" for e in report.errors]
    return lines
