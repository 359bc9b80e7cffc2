"""A flood of packet-ins to the host tracker's decisions (issue 16, item 2): 100,000
PacketIn messages from 1,000 hosts behind one switch (RARP and gratuitous ARP 65 %, ARP
replies 30 % and requests 5 % of the hosts' frames, LLDP a tenth of all, 20 moves on the
way: tests/fastpath/messages.py's flood), mostly repeats.

In process, from the bytes gRPC hands over to the decisions, in batches of 64 messages,
timed in CPU seconds of this process (bench/intake.py says what each path does): the
columns (what `ctrl serve` runs now), main's path before them, a dpkt loop with the
same filter of settled hosts in a dict, and a dpkt loop that gives every frame to the
core. Every path's decisions (plans,
proxy ARP replies, notices, counters, host table) are asserted equal.

Over a real gRPC stream: a P4Runtime switch of this bench's own (bench/floodswitch.cc
in C++ where g++ and libgrpc++-dev are installed, else bench/floodswitch.py; a process
of its own) floods the same messages on its stream, as fast as gRPC takes them, into
`ctrl serve`'s own Controller (its session, runner and core, in sync with the switch
first) until the core has counted every one: its stream read in C (ctrl/p4rt/cstream.py,
what it runs where built) and read by grpcio; next to the dpkt loop reading the same
stream through grpcio (protobuf messages, the core per message), and to loops that
only read the stream's bytes (grpcio's ceiling, and the C reader's). Rates are per
second of wall time and per CPU second of this process (gRPC's threads and the C
reader's included): "on one core". Nothing about time is asserted.
"""

from __future__ import annotations

import asyncio
import functools
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import grpc
import pytest

from bench import intake
from bench.conftest import RATIOS
from bench.floodswitch import build_cc, pipeline_answer, write_flood
from ctrl.control import session as session_module
from ctrl.control.core import ControlCore
from ctrl.control.runner import Controller
from ctrl.control.topology import Topology, parse_topology
from ctrl.fastpath import native_available
from ctrl.fastpath.stream import Joined
from ctrl.p4rt import cstream
from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.p4rt.client import P4Client
from ctrl.p4rt.proto import STREAM_METHOD, p4r, rpc_code
from ctrl.p4rt.schema import P4Schema
from tests.fastpath.messages import FloodHost, flood, mobility_schema

N = 100_000
BATCH = 64
HOSTS = [FloodHost(10, 0x020000100000 + i, 0x0A000000 + 256 + i) for i in range(1000)]
EDGES = [("s1", p) for p in range(1, 9)]
LLDP = [("s1", 9, "s2", 9)]
TOPOLOGY = """\
switches:
  s1: {{device_id: 1, grpc_addr: "{addr}"}}
  s2: {{device_id: 2, grpc_addr: "{addr}"}}
links:
  - [s1:9, s2:9]
hypervisors:
{hypervisors}
vnets:
  blue: {{id: 10, gateway_mac: "02:00:00:00:00:01"}}
"""
SCHEMA = mobility_schema()
MESSAGES = [p.message for p in flood(N, HOSTS, EDGES, LLDP, moves=20, requests=0.05,
                                     seed=16)]
IN_PROCESS = f"packet-ins to decisions in process, {N:,} messages, batches of {BATCH}"
OVER_GRPC = f"packet-ins to decisions over a gRPC stream, {N:,} messages"
COLUMNS, MAINS, DPKT, DPKT_EVERY = ("columns (ctrl serve now)", "main's path before",
                                    "dpkt loop, settled hosts in a dict",
                                    "dpkt loop, every frame to the core")
RESULTS: dict[str, float] = {}          # path -> median s
DECIDED: dict[str, intake.Decisions] = {}
needs_c = pytest.mark.skipif(not native_available(), reason="the C fast path is not built")


def topology(addr: str = "127.0.0.1:1") -> Topology:
    hyps = "\n".join(f"  h{p}: {{switch: s1, port: {p}}}" for _, p in EDGES)
    return parse_topology(TOPOLOGY.format(addr=addr, hypervisors=hyps))


def _record_in_process(name: str, median: float) -> None:
    RESULTS[name] = median
    base = RESULTS.get(COLUMNS)
    lines = []
    for label in (COLUMNS, MAINS, DPKT, DPKT_EVERY):
        if label in RESULTS:
            t = RESULTS[label]
            ratio = f"   columns x{t / base:,.1f}" if base and label != COLUMNS else ""
            lines.append(f"  {label:<38} {N / t:>12,.0f} packet-ins per CPU second{ratio}")
    RATIOS[IN_PROCESS] = lines


def _dpkt_every(schema: P4Schema) -> intake.Intake:
    return intake.dpkt_loop(schema, filtered=False)


PATHS: dict[str, Callable[[P4Schema], intake.Intake]] = {
    COLUMNS: intake.columns, MAINS: intake.mains_path, DPKT: intake.dpkt_loop,
    DPKT_EVERY: _dpkt_every}


@needs_c
@pytest.mark.parametrize("name", list(PATHS))
@pytest.mark.benchmark(timer=time.process_time)   # CPU time: the machine is shared
def test_in_process(benchmark: Any, name: str) -> None:
    run = PATHS[name](SCHEMA)
    batches = [("s1", MESSAGES[i:i + BATCH]) for i in range(0, N, BATCH)]
    cores: list[ControlCore] = []

    def setup() -> tuple[tuple[ControlCore, Any, float], dict[str, Any]]:
        cores.append(ControlCore(topology()))
        return (cores[-1], batches, 1.0), {}

    rounds = 3 if name in (COLUMNS, DPKT) else 2
    plans = benchmark.pedantic(run, setup=setup, rounds=rounds, iterations=1)
    DECIDED[name] = intake.decisions(cores[-1], plans)
    first = next(iter(DECIDED.values()))
    assert DECIDED[name] == first, f"{name} decided otherwise than {next(iter(DECIDED))}"
    assert first.metrics.learned == len(HOSTS) and first.metrics.moves == 20
    _record_in_process(name, benchmark.stats.stats.median)


# -- over a real gRPC stream -------------------------------------------------------------


class Flood:
    """The flood switch's process: its port, and "go" for each flood."""

    def __init__(self, tmp: Path) -> None:
        flood_file = tmp / "flood.bin"
        write_flood(flood_file, MESSAGES)
        p4info = BuildPaths(project_root()).p4info
        cc = build_cc(tmp)
        if cc is not None:
            answer = tmp / "pipeline.bin"
            answer.write_bytes(pipeline_answer(SCHEMA))
            argv = [str(cc), str(flood_file), str(answer)]
        else:
            argv = [sys.executable, "-m", "bench.floodswitch", str(flood_file), str(p4info)]
        self.sender = "C++" if cc is not None else "Python"
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, cwd=project_root())
        self.out: IO[str] = self.proc.stdout   # type: ignore[assignment]
        self.port = int(self.out.readline())
        self.addr = f"127.0.0.1:{self.port}"

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def switch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flood]:
    f = Flood(tmp_path_factory.mktemp("flood"))
    yield f
    f.close()


STREAM: dict[str, tuple[float, float, str]] = {}   # path -> (wall s, cpu s, note)
SERVE_C, SERVE_GRPCIO, DPKT_STREAM = ("ctrl serve, stream read in C",
                                      "ctrl serve, stream read by grpcio",
                                      "dpkt loop (grpcio, protobuf messages)")
DPKT_C = "dpkt loop (C reader's batches)"


def _record_stream(name: str, wall: float, cpu: float, note: str = "") -> None:
    STREAM[name] = (wall, cpu, note)
    lines = [f"  {label:<38} {N / w:>9,.0f}/s wall   {N / c:>9,.0f}/s per CPU second{n}"
             for label, (w, c, n) in STREAM.items()]
    for peer in (DPKT_STREAM, DPKT_C):
        if SERVE_C in STREAM and peer in STREAM:
            (w, c, _), (dw, dc, _) = STREAM[SERVE_C], STREAM[peer]
            lines.append(f"  {SERVE_C} / {peer}: x{dw / w:.1f} wall, x{dc / c:.1f} CPU")
    RATIOS[OVER_GRPC] = lines


async def _controller_round(flood_switch: Flood) -> tuple[float, float, float]:
    ctrl = Controller(topology(flood_switch.addr), SCHEMA, b"", lldp_interval=1.0,
                      adopt_wait=0.5)
    calls = [0]
    punted = ctrl.core.punted

    def counted(*args: Any) -> Any:
        calls[0] += 1
        return punted(*args)
    ctrl.core.punted = counted   # type: ignore[method-assign,assignment]
    stop = asyncio.Event()
    task = asyncio.create_task(ctrl.run(stop))
    try:
        await asyncio.wait_for(ctrl.synced.wait(), 30)
        t0, c0 = time.perf_counter(), time.process_time()
        flood_switch.go()
        while ctrl.core.metrics.packet_ins < N:
            await asyncio.sleep(0.02)
            if time.perf_counter() - t0 > 120:
                raise TimeoutError(f"the core counted {ctrl.core.metrics.packet_ins} of {N} "
                                   "packet-ins in 120 s (the session reconnected, or the "
                                   "flood went to another stream?)")
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert flood_switch.out.readline().strip() == "sent"
        assert ctrl.core.metrics.learned == len(HOSTS) and ctrl.core.metrics.moves == 20
        return wall, cpu, N / calls[0]
    finally:
        stop.set()
        await task


needs_cstream = pytest.mark.skipif(not cstream.available(),
                                   reason="ctrl._grpcstream is not built (libgrpc-dev)")


@needs_c
@pytest.mark.parametrize("reader", [pytest.param(SERVE_C, marks=needs_cstream),
                                    SERVE_GRPCIO])
def test_stream_into_ctrl_serve(benchmark: Any, switch: Flood, reader: str,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "P4Client",
                        functools.partial(P4Client, c_stream=reader == SERVE_C))
    rounds = benchmark.pedantic(lambda: [asyncio.run(_controller_round(switch))
                                         for _ in range(3)], rounds=1, iterations=1)
    walls, cpus, sizes = ([r[i] for r in rounds] for i in range(3))
    med = sorted(range(3), key=lambda i: walls[i])[1]
    _record_stream(reader, walls[med], cpus[med],
                   f"   ({sizes[med]:.1f} packet-ins a batch; {switch.sender} sender; "
                   f"median of 3)")


async def _loop_round(flood_switch: Flood, per_message: Any, raw: bool) -> tuple[float, float]:
    channel = grpc.aio.insecure_channel(flood_switch.addr)
    outbox: asyncio.Queue[bytes] = asyncio.Queue()
    await outbox.put(p4r.StreamMessageRequest(arbitration=p4r.MasterArbitrationUpdate(
        device_id=1, election_id=p4r.Uint128(high=0, low=1))).SerializeToString())

    async def requests() -> Any:
        while True:
            yield await outbox.get()
    call = channel.stream_stream(
        STREAM_METHOD, request_serializer=None,
        response_deserializer=None if raw else p4r.StreamMessageResponse.FromString)(
            requests())
    first = await call.read()
    if not raw:
        assert first.arbitration.status.code == rpc_code.OK
    t0, c0 = time.perf_counter(), time.process_time()
    flood_switch.go()
    for _ in range(N):
        per_message(await call.read())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert flood_switch.out.readline().strip() == "sent"
    call.cancel()
    await channel.close()
    return wall, cpu


def test_stream_dpkt_loop(benchmark: Any, switch: Flood) -> None:
    core = ControlCore(topology())
    peer = intake.DpktPeer(SCHEMA)
    wall, cpu = benchmark.pedantic(
        lambda: asyncio.run(_loop_round(switch, lambda m: peer.batch(core, "s1", [m],
                                                                     time.monotonic()),
                                        raw=True)),
        rounds=1, iterations=1)
    assert core.metrics.learned == len(HOSTS) and core.metrics.moves == 20
    _record_stream(DPKT_STREAM, wall, cpu)


def test_stream_bytes_only(benchmark: Any, switch: Flood) -> None:
    wall, cpu = benchmark.pedantic(lambda: asyncio.run(_loop_round(switch, lambda m: None,
                                                                   raw=True)),
                                   rounds=1, iterations=1)
    _record_stream("grpcio alone: the stream's bytes read", wall, cpu)


def _c_round(flood_switch: Flood, per_batch: Callable[[Joined], object]
             ) -> tuple[float, float]:
    stream = cstream.CStream.open(flood_switch.addr, STREAM_METHOD, N)
    try:
        stream.send(p4r.StreamMessageRequest(arbitration=p4r.MasterArbitrationUpdate(
            device_id=1, election_id=p4r.Uint128(high=0, low=1))).SerializeToString())
        while not stream.take().others:   # the arbitration answer
            select.select([stream.fd], [], [], 1.0)
        t0, c0 = time.perf_counter(), time.process_time()
        flood_switch.go()
        got = 0
        while got < N:
            select.select([stream.fd], [], [], 1.0)
            taken = stream.take()
            assert not taken.ended, taken.message
            got += len(taken.packet_lens)
            per_batch(Joined(taken.packets, taken.packet_lens))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert flood_switch.out.readline().strip() == "sent"
        return wall, cpu
    finally:
        stream.close()


@needs_cstream
def test_stream_bytes_only_c(benchmark: Any, switch: Flood) -> None:
    wall, cpu = benchmark.pedantic(lambda: _c_round(switch, lambda j: None), rounds=1,
                                   iterations=1)
    _record_stream("C reader alone: the stream's bytes read", wall, cpu)


@needs_cstream
def test_stream_dpkt_loop_c_reader(benchmark: Any, switch: Flood) -> None:
    """The peer at its best: the same dpkt loop on the batches the C reader hands over."""
    core = ControlCore(topology())
    peer = intake.DpktPeer(SCHEMA)
    wall, cpu = benchmark.pedantic(
        lambda: _c_round(switch, lambda j: peer.batch(core, "s1", j.split(),
                                                      time.monotonic())),
        rounds=1, iterations=1)
    assert core.metrics.learned == len(HOSTS) and core.metrics.moves == 20
    _record_stream(DPKT_C, wall, cpu)
