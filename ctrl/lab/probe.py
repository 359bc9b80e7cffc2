"""The probe: UDP and TCP both ways between two endpoints, recorded for a `Report`.

    probe = Probe(Endpoint("client", "10.0.0.9"), Endpoint("vm1", "10.0.0.1"))
    with probe:                      # start(); stop() on the way out, also on error
        ...                          # migrate something
        probe.mark("migration vm1 -> h3 start")
    print(probe.report.summary())

or `Probe(...).run(duration=10)`, which returns the report (also after Ctrl-C).

Sockets are made in each endpoint's namespace (`ctrl.platform.netns.in_netns`), then used
from threads: per endpoint a UDP socket that sends one direction's stream and
receives the other's, and one end of a TCP connection, written and read by a
thread each. A progress callback runs on the probe's own thread once per
`progress_s`. Every socket and thread ends with stop().

Echo mode, for a peer the probe cannot run in (a QEMU guest, whose endpoint echoes
UDP and TCP on one port): `Endpoint(None, "10.10.0.2", "vm2", echo_port=7)` as `b`.
Then `a` alone has sockets: its UDP stream goes to the echo port and what comes
back is recorded, and so is its TCP stream, read back through the echo. The report
has one direction, "a -> b -> a", whose gaps, loss, reordering and duplicates are
those of the round trip: an outage either way shows.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

from ctrl.errors import MobilityError
from ctrl.lab import pattern
from ctrl.lab.pacing import Pacer
from ctrl.lab.report import DEFAULT_BIN_S, DEFAULT_MIN_INTERRUPTION_MS, Mark, Report, build_report
from ctrl.lab.tcpstream import TcpLog, receive_stream, send_stream
from ctrl.lab.udpstream import HEADER, MAX_DATAGRAM, UdpLog, receive_datagrams, send_datagrams
from ctrl.platform.netns import in_netns

log = logging.getLogger(__name__)

SOCKET_TIMEOUT_S = 0.1  # how soon a blocked thread sees that it should stop
UDP_GRACE_S = 0.1  # how long after the senders stop datagrams still in flight may arrive
TCP_MAX_LAG_S = 0.1  # a TCP writer this far behind its schedule forgoes the backlog
JOIN_TIMEOUT_S = 2.0
UDP_RECEIVE_BUFFER = 4 << 20
SO_RCVBUFFORCE = 33  # <asm-generic/socket.h>; the socket module does not name it


class ProbeError(MobilityError, OSError):
    """A probe that cannot start: bad endpoint, address not there, no connection."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One end: a network namespace (None: this process's own) and an IPv4 address in it;
    with `echo_port`, a peer that echoes UDP and TCP on that port, where the probe makes
    no socket (its namespace is not used)."""

    netns: str | None
    address: str
    name: str = ""
    echo_port: int | None = None

    @property
    def label(self) -> str:
        return self.name or self.netns or self.address

    def __str__(self) -> str:
        where = f" in {self.netns}" if self.netns and self.netns != self.label else ""
        return f"{self.label} ({self.address}{where})"


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    udp_rate: float = 1000.0  # datagrams per second, each way
    udp_size: int = 64  # bytes of UDP payload
    udp_port: int = 47100
    tcp_rate: float = 4e6  # bytes per second, each way; 0: no TCP connection
    tcp_chunk: int = 4096  # bytes per write: about one a millisecond, smooth in 10 ms bins
    tcp_port: int = 47101
    bin_s: float = DEFAULT_BIN_S  # throughput bins
    progress_s: float = 1.0
    drain_s: float = 3.0  # how long stop() waits for the TCP streams to arrive in full
    connect_timeout_s: float = 3.0
    min_interruption_ms: float = DEFAULT_MIN_INTERRUPTION_MS

    def __post_init__(self) -> None:
        if not self.udp_rate > 0:
            raise ValueError(f"udp_rate must be positive, not {self.udp_rate}")
        if not HEADER.size <= self.udp_size <= MAX_DATAGRAM:
            raise ValueError(f"udp_size must be {HEADER.size}..{MAX_DATAGRAM}")
        if self.tcp_rate < 0 or not 0 < self.tcp_chunk <= pattern.PERIOD:
            raise ValueError(f"tcp_rate >= 0 and tcp_chunk 1..{pattern.PERIOD}, please")


@dataclass(frozen=True, slots=True)
class DirectionProgress:
    direction: str
    udp_sent: int
    udp_received: int
    udp_received_last: int  # since the previous progress report
    tcp_bytes: int


@dataclass(frozen=True, slots=True)
class Progress:
    elapsed_s: float
    directions: tuple[DirectionProgress, ...]

    def line(self) -> str:
        parts = [f"{d.direction}: udp {d.udp_received}/{d.udp_sent} "
                 f"(+{d.udp_received_last}), tcp {d.tcp_bytes / 1e6:.1f} MB"
                 for d in self.directions]
        return f"{self.elapsed_s:6.1f} s  " + " | ".join(parts)


@dataclass(frozen=True, slots=True)
class _Direction:
    src: Endpoint
    dst: Endpoint
    udp: UdpLog
    tcp: TcpLog

    @property
    def echoed(self) -> bool:
        return self.dst.echo_port is not None

    @property
    def name(self) -> str:
        back = f" -> {self.src.label}" if self.echoed else ""
        return f"{self.src.label} -> {self.dst.label}{back}"


def _check_endpoints(a: Endpoint, b: Endpoint) -> None:
    for ep in (a, b):
        try:
            ipaddress.IPv4Address(ep.address)
        except ValueError:
            raise ProbeError(f"{ep.address!r} is not an IPv4 address") from None
    if (a.netns, a.address) == (b.netns, b.address):
        raise ProbeError(f"both ends are {a}")
    if a.label == b.label:
        raise ProbeError(f"both ends are called {a.label!r}: name them")
    if a.echo_port is not None:
        raise ProbeError(f"{a} echoes: the probe runs at the first end and an echoing "
                         "peer can only be the second")
    if b.echo_port is not None and not 0 < b.echo_port < 65536:
        raise ProbeError(f"echo port {b.echo_port} out of range")


def _socket(ep: Endpoint, kind: int, port: int, stack: contextlib.ExitStack) -> socket.socket:
    """A socket made in `ep`'s namespace and bound to its address."""
    with in_netns(ep.netns):
        sock = stack.enter_context(socket.socket(socket.AF_INET, kind))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((ep.address, port))
    except OSError as exc:
        where = f"namespace {ep.netns!r}" if ep.netns else "the root namespace"
        if exc.errno == errno.EADDRNOTAVAIL:
            raise ProbeError(f"{ep.address} is not an address of {where}") from None
        raise ProbeError(f"cannot bind {ep.address}:{port} in {where}: {exc}") from exc
    return sock


def _grow_receive_buffer(sock: socket.socket) -> None:
    """Room for a second of datagrams, so a receiver thread that the scheduler holds
    up (the switches share the CPU) loses nothing: beyond net.core.rmem_max as root."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, UDP_RECEIVE_BUFFER)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)


class Probe:
    """UDP at a constant rate and TCP at a bounded rate, both ways between `a` and `b`."""

    def __init__(self, a: Endpoint, b: Endpoint, options: ProbeOptions | None = None,
                 progress: Callable[[Progress], None] | None = None) -> None:
        _check_endpoints(a, b)
        self.a, self.b = a, b
        self.options = options or ProbeOptions()
        self._progress = progress
        streams = random.Random().sample(range(1, 2**32), 2)
        there = _Direction(a, b, UdpLog(streams[0]), TcpLog())
        self._directions = (there,) if there.echoed else (
            there, _Direction(b, a, UdpLog(streams[1]), TcpLog()))
        self._sockets = contextlib.ExitStack()
        self._stop_sending = threading.Event()
        self._stop_receiving = threading.Event()
        self._senders: list[threading.Thread] = []
        self._receivers: list[threading.Thread] = []
        self._tcp_readers: list[threading.Thread] = []
        self._marks: list[Mark] = []
        self._errors: list[str] = []
        self._origin_ns: int | None = None
        self._started = ""
        self._interrupted = False
        self.report: Report | None = None

    # ---- the lifecycle ----

    def start(self) -> None:
        """Make the sockets, connect TCP and start the threads; raises ProbeError (or
        ctrl.platform.netns.NetnsError for a namespace that is not there) and leaves
        nothing open."""
        if self._origin_ns is not None:
            raise ProbeError("a probe runs once; make another")
        try:
            self._start()
        except BaseException:
            self._stop_sending.set()
            self._stop_receiving.set()
            self._join(self._senders + self._receivers)
            self._sockets.close()
            raise

    @property
    def origin(self) -> float:
        """When the probe started, as a time.monotonic() reading: its time 0."""
        if self._origin_ns is None:
            raise ProbeError("the probe has not started")
        return self._origin_ns / 1e9

    def mark(self, name: str, when: float | None = None) -> Mark:
        """Note a named instant, e.g. "migration vm1 -> h3 start"; it goes into the report.
        `when` is a time.monotonic() reading (another process's too: the clock is the
        system's); default now."""
        if self._origin_ns is None:
            raise ProbeError("the probe has not started")
        now = time.monotonic_ns() if when is None else int(when * 1e9)
        mark = Mark(name, round((now - self._origin_ns) / 1e9, 6))
        self._marks.append(mark)
        log.info("mark %.3f s: %s", mark.at, name)
        return mark

    def stop(self) -> Report:
        """Stop sending, let what is in flight arrive, close everything, and report."""
        if self.report is not None:
            return self.report
        if self._origin_ns is None:
            raise ProbeError("the probe has not started")
        try:
            stopped = time.monotonic_ns()
            self._stop_sending.set()
            self._join(self._senders)
            self._join(self._tcp_readers, self.options.drain_s)
            time.sleep(max(0.0, UDP_GRACE_S - (time.monotonic_ns() - stopped) / 1e9))
        finally:
            self._stop_receiving.set()
            self._join(self._receivers)
            self._errors += [f"{t.name} did not stop" for t in self._senders + self._receivers
                             if t.is_alive()]
            self._sockets.close()
        self.report = self._build(stopped)
        return self.report

    def run(self, duration: float | None = None, until: threading.Event | None = None
            ) -> Report:
        """start(), wait for `duration` seconds or `until` (or Ctrl-C), stop(): the report."""
        self.start()
        try:
            (until or threading.Event()).wait(duration)
        except KeyboardInterrupt:
            log.info("probe interrupted: reporting what it gathered")
            self._interrupted = True
        except BaseException:
            self.stop()
            raise
        return self.stop()

    def __enter__(self) -> Probe:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is KeyboardInterrupt:
            self._interrupted = True
        self.stop()

    # ---- the parts ----

    def _start(self) -> None:
        opts = self.options
        stack = self._sockets
        ends = [ep for ep in (self.a, self.b) if ep.echo_port is None]
        udp = {ep: _socket(ep, socket.SOCK_DGRAM, opts.udp_port, stack) for ep in ends}
        for sock in udp.values():
            _grow_receive_buffer(sock)
            sock.settimeout(SOCKET_TIMEOUT_S)
        tcp = self._connect() if opts.tcp_rate > 0 else {}
        self._started = datetime.now(UTC).isoformat(timespec="milliseconds")
        self._origin_ns = time.monotonic_ns()
        origin = self._origin_ns / 1e9
        for d in self._directions:
            # What comes back from an echoing peer arrives where it was sent from.
            back = d.src if d.echoed else d.dst
            port = d.dst.echo_port or opts.udp_port
            self._receivers.append(self._spawn(
                f"udp-rx {d.name}", receive_datagrams, udp[back], d.udp, self._stop_receiving))
            self._senders.append(self._spawn(
                f"udp-tx {d.name}", send_datagrams, udp[d.src], (d.dst.address, port),
                d.udp, Pacer(opts.udp_rate, origin), opts.udp_size, self._stop_sending))
            if tcp:
                reader = self._spawn(f"tcp-rx {d.name}", receive_stream, tcp[back], d.tcp,
                                     self._stop_receiving)
                self._receivers.append(reader)
                self._tcp_readers.append(reader)
                self._senders.append(self._spawn(
                    f"tcp-tx {d.name}", send_stream, tcp[d.src], d.tcp,
                    Pacer(opts.tcp_rate, origin, TCP_MAX_LAG_S), opts.tcp_chunk,
                    self._stop_sending))
        if self._progress is not None:
            self._senders.append(self._spawn("progress", self._report_progress))
        log.info("probe %s <-> %s started", self.a, self.b)

    def _connect(self) -> dict[Endpoint, socket.socket]:
        """The TCP connection: `a` connects to a listener at `b` (or to its echo port)."""
        a, b, port = self.a, self.b, self.options.tcp_port
        if b.echo_port is not None:
            client = _socket(a, socket.SOCK_STREAM, 0, self._sockets)
            client.settimeout(self.options.connect_timeout_s)
            try:
                client.connect((b.address, b.echo_port))
            except OSError as exc:
                raise ProbeError(f"no TCP connection from {a} to {b}'s echo port "
                                 f"{b.echo_port}: {exc}") from exc
            client.settimeout(SOCKET_TIMEOUT_S)
            return {a: client}
        with contextlib.ExitStack() as listening:
            listener = _socket(b, socket.SOCK_STREAM, port, listening)
            listener.listen(1)
            listener.settimeout(self.options.connect_timeout_s)
            client = _socket(a, socket.SOCK_STREAM, 0, self._sockets)
            client.settimeout(self.options.connect_timeout_s)
            try:
                client.connect((b.address, port))
                server, peer = listener.accept()
            except OSError as exc:
                raise ProbeError(f"no TCP connection from {a} to {b} port {port}: {exc}"
                                 ) from exc
            self._sockets.enter_context(server)
        if peer[0] != a.address:
            raise ProbeError(f"TCP connection to {b} came from {peer[0]}, not {a.address}")
        for sock in (client, server):
            sock.settimeout(SOCKET_TIMEOUT_S)
        return {a: client, b: server}

    def _spawn(self, name: str, target: Callable[..., None], *args: object
               ) -> threading.Thread:
        def guarded() -> None:
            try:
                target(*args)
            except Exception as exc:
                log.exception("probe thread %s failed", name)
                self._errors.append(f"{name}: {exc!r}")
        thread = threading.Thread(target=guarded, name=f"probe {name}", daemon=True)
        thread.start()
        return thread

    def _join(self, threads: list[threading.Thread], timeout: float = JOIN_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _report_progress(self) -> None:
        assert self._progress is not None and self._origin_ns is not None
        pacer = Pacer(1 / self.options.progress_s, self._origin_ns / 1e9)
        last = [0] * len(self._directions)
        tick = 1
        while not self._stop_sending.wait(pacer.delay(tick, time.monotonic())):
            counts = [len(d.udp.arrivals) for d in self._directions]
            progress = Progress((time.monotonic_ns() - self._origin_ns) / 1e9, tuple(
                DirectionProgress(d.name, len(d.udp.sends), n, n - before, d.tcp.bytes_received)
                for d, n, before in zip(self._directions, counts, last, strict=True)))
            last = counts
            tick += 1
            try:
                self._progress(progress)
            except Exception:
                log.exception("probe progress callback failed")

    def _build(self, stopped_ns: int) -> Report:
        assert self._origin_ns is not None
        opts, origin = self.options, self._origin_ns
        return build_report(
            a=str(self.a), b=str(self.b), started=self._started,
            duration_s=(stopped_ns - origin) / 1e9,
            udp=[d.udp.trace(d.name, opts.udp_rate, origin) for d in self._directions],
            tcp=[d.tcp.trace(d.name, opts.tcp_rate, origin) for d in self._directions
                 if opts.tcp_rate > 0],
            marks=self._marks, interrupted=self._interrupted, errors=self._errors,
            bin_s=opts.bin_s, min_interruption_ms=opts.min_interruption_ms)
