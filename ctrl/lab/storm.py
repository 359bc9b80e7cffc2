"""`ctrl lab storm`: many VMs migrating at once, and what the controller made of it.

The storm runs on a fabric (`Fabric`): the lab's own Open vSwitch bridges with light VMs
(`--target ovs`, ctrl/lab/labstorm.py), or the sink target described here.

On the sink target (`--target sink`, a k=16 fat-tree by default: 320 switches, where
the lab's namespaces cannot go) the controller is `ctrl serve` itself, a process of its
own, against one `ctrl sink-target` serving every switch over P4Runtime: its sessions,
syncs and writes are real gRPC; there is no data plane (nothing is forwarded, no
probe). The storm: announce a share of the moves through the API (all sent at once on
connections made beforehand), then every mover's RARP at its destination, punted by the
sink in one go; then read the controller's convergence records (GET /api/v1/moves) and
its write counts per switch (GET /api/v1/switches). Everything it starts it stops, by
PID; its files stay in the work directory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import shutil
import socket
import time
from collections.abc import Callable, Collection, Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ctrl.control.topology import Topology, to_yaml
from ctrl.lab import procs
from ctrl.lab.build import in_sync, listening
from ctrl.lab.fattree import ScaleHost, ScaleHosts, fat_tree_topology, scale_hosts
from ctrl.lab.spec import LabError
from ctrl.lab.stormreport import Spread, StormReport, SwitchWrites
from ctrl.northbound.client import ApiError, PreparedCall, call
from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.p4rt.values import int_to_mac
from ctrl.punt.frames import rarp_announcement
from ctrl.targets.bmv2 import free_tcp_port

Progress = Callable[[str], None]
SINK_FABRIC = ("sink target: real P4Runtime (gRPC) to one `ctrl sink-target` serving every "
               "switch; every write taken and kept, no data plane")
START_TIMEOUT = 600.0     # the controller in sync with every switch (10,000 VMs' YAML, too)
STORM_TIMEOUT = 120.0     # every move's convergence recorded
POLL_S = 0.25             # how often the controller is asked for convergence records


@dataclass(frozen=True, slots=True)
class StormOptions:
    k: int = 16
    vms: int = 1000
    vnets: int = 1
    placement: str = "spread"
    moves: int = 1000
    announced: float = 0.5        # the share of the moves announced first
    seed: int = 1


def _quiet(_: str) -> None:
    pass


def raise_fd_limit() -> None:
    """As many descriptors as the hard limit allows (a connection per announcement)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Fabric(Protocol):
    """Where a storm runs: switches, `ctrl serve` (its API) and the hosts it knows."""

    label: str                     # what the switches are, said plainly
    api: str
    topology: Topology
    hosts: ScaleHosts

    def processes(self) -> Mapping[str, int]:
        """The fabric's processes (name -> PID), for the CPU they use in a storm."""

    def moves_itself(self, mac: int) -> bool:
        """True for a host that `depart` moves whole, announcement and all (a namespace
        VM of the lab); the storm announces the others itself."""

    def depart(self, movers: Sequence[tuple[ScaleHost, str]], announced: Collection[int]
               ) -> None:
        """The storm begins: the movers it moves itself set off (announced first if in
        `announced`, the MACs the controller is told of), alongside the storm's own
        announcements."""

    def arrive(self, movers: Sequence[tuple[ScaleHost, str]]) -> None:
        """Every other mover at its new hypervisor, announcing itself (RARP) there; then
        those that `depart` set off are waited for."""


class SinkFabric:
    """A sink target and `ctrl serve` against it, for the hosts given; stopped on exit."""

    label = SINK_FABRIC

    def __init__(self, work: Path, hosts: ScaleHosts, say: Progress = _quiet,
                 verbose: bool = False) -> None:
        self.work = work
        self.hosts = hosts
        self.say = say
        self.verbose = verbose
        self.grpc = f"127.0.0.1:{free_tcp_port()}"
        self.api = f"127.0.0.1:{free_tcp_port()}"
        self.control = work / "sink.sock"
        self.started: list[procs.Proc] = []
        n = 5 * hosts.k * hosts.k // 4
        self.topology = fat_tree_topology(
            hosts.k, hosts=hosts.hosts, addresses=iter([(self.grpc, i + 1) for i in range(n)]))

    def __enter__(self) -> SinkFabric:
        self.work.mkdir(parents=True, exist_ok=True)
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        topo = self.work / "topology.yaml"
        topo.write_text(to_yaml(self.topology))
        # The sink needs the switches and links only (a YAML of 100,000 VMs takes a minute)
        bare = self.work / "topology-bare.yaml"
        bare.write_text(to_yaml(dataclasses.replace(self.topology, vms={})))
        sink = procs.spawn("sink-target", _python("sink-target", "--topology", str(bare),
                                                  "--control", str(self.control)),
                           self.work / "sink.log")
        self.started.append(sink)
        procs.wait_until(listening(self.grpc), sink, START_TIMEOUT, "serving P4Runtime")
        self.start_controller(topo)

    def start_controller(self, topology: Path, log_name: str = "controller.log") -> procs.Proc:
        paths = BuildPaths(project_root())
        argv = _python(*(["-vv"] if self.verbose else []), "serve", "--topology",
                       str(topology), "--api", self.api, "--p4info", str(paths.p4info),
                       "--bmv2-json", str(paths.json))
        ctrl = procs.spawn("controller", argv, self.work / log_name)
        self.started.append(ctrl)
        self.wait_in_sync(ctrl)
        return ctrl

    def wait_in_sync(self, ctrl: procs.Proc) -> float:
        """Until every switch is in sync, saying how many are now and then; the time."""
        start = time.monotonic()
        last = -1.0
        n = len(self.topology.switches)
        ready = in_sync(self.api)
        while not ready():
            if not procs.is_running(ctrl):
                procs.wait_until(lambda: False, ctrl, 0, "in sync with every switch")
            if time.monotonic() - start > START_TIMEOUT:
                raise LabError(f"the controller is not in sync after {START_TIMEOUT:.0f} s; "
                               f"its log: {ctrl.log}")
            if time.monotonic() - last >= 1.0:
                last = time.monotonic()
                self.say(f"controller: {self.synced()} of {n} switches in sync "
                         f"({last - start:.0f} s)")
            time.sleep(0.05)
        return time.monotonic() - start

    def synced(self) -> int:
        try:
            rows = call(self.api, "switches", timeout=5)
        except ApiError:
            return 0
        return sum(1 for r in rows if r.get("in_sync")) if isinstance(rows, list) else 0

    def sink(self, request: Mapping[str, object]) -> Mapping[str, object]:
        """One request to the sink's control socket, and its answer."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.control))
            s.sendall((json.dumps(request) + "\n").encode())
            data = b""
            while not data.endswith(b"\n"):
                got = s.recv(1 << 20)
                if not got:
                    break
                data += got
        answer = json.loads(data)
        if not isinstance(answer, dict) or "error" in answer:
            raise LabError(f"sink: {answer}")
        return answer

    def processes(self) -> Mapping[str, int]:
        return {p.name: p.pid for p in self.started}

    def moves_itself(self, mac: int) -> bool:
        return False

    def depart(self, movers: Sequence[tuple[ScaleHost, str]], announced: Collection[int]
               ) -> None:
        pass   # the sink has no VMs of its own to move

    def arrive(self, movers: Sequence[tuple[ScaleHost, str]]) -> None:
        """Every mover's RARP punted by the sink at its destination's port, in one go."""
        hvs = self.topology.hypervisors
        self.sink({"punt": [[hvs[hv].attach.switch, hvs[hv].attach.port,
                             rarp_announcement(h.mac).hex()] for h, hv in movers]})

    def stop(self) -> None:
        for p in reversed(self.started):
            procs.stop(p)
        self.started.clear()


def _python(*args: str) -> list[str]:
    import sys

    return [sys.executable, "-m", "ctrl.cli", *args]


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used (/proc/PID/stat), in seconds."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / procs.TICKS


def _writes(api: str) -> dict[str, tuple[int, int]]:
    rows = call(api, "switches", timeout=30)
    assert isinstance(rows, list)
    return {str(r["name"]): (int(r.get("writes", 0)), int(r.get("batches", 0))) for r in rows}


def storm(fabric: Fabric, movers: list[tuple[ScaleHost, str]], announced: int,
          say: Progress = _quiet) -> StormReport:
    """The storm itself on a fabric in sync: the movers the fabric moves itself set off
    and the first `announced` of the others are announced through the API (all sent at
    once), then every mover arrives; each move's convergence as the controller recorded
    it, and the writes per switch."""
    topo = fabric.topology
    before = _writes(fabric.api)
    pids = fabric.processes()
    cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
    load = os.getloadavg()[0]
    told = {h.mac for h, _ in movers[:announced]}
    prepared = [PreparedCall(fabric.api, "migrate", {"vm": h.name, "to": hv}, timeout=120)
                for h, hv in movers[:announced] if not fabric.moves_itself(h.mac)]
    say(f"storm: {len(movers):,} moves, {announced:,} of them announced first")
    t0 = time.monotonic()
    fabric.depart(movers, told)
    for p in prepared:
        p.send()
    for p in prepared:
        p.answer()
    t_announced = time.monotonic()
    fabric.arrive(movers)
    records = moves_records(fabric.api, t0, {h.mac: topo.hypervisors[hv].attach
                                         for h, hv in movers})
    used = {name: cpu_seconds(pid) - cpu[name] for name, pid in pids.items()}
    after = _writes(fabric.api)
    writes = tuple(SwitchWrites(sw, after[sw][0] - before.get(sw, (0, 0))[0],
                                after[sw][1] - before.get(sw, (0, 0))[1])
                   for sw in sorted(after))
    done = [r for r in records.values() if not r.failed]
    failed = tuple(f"{int_to_mac(r.mac)}: {', '.join(r.failed)}" for r in records.values()
                   if r.failed)
    last = max((r.time for r in records.values()), default=t0)
    notes = _notes(fabric, records, t0, used, load)
    return StormReport(
        fabric.label, len(topo.switches), len(fabric.hosts.hosts),
        len(fabric.hosts.owned), len(movers), announced, len(done), failed,
        (max(last, t_announced) - t0) * 1e3, (t_announced - t0) * 1e3 if prepared else 0.0,
        Spread.of([r.ms for r in records.values()]), writes, notes=tuple(notes),
        extra={"cpu_s": used, "load": load})


def _notes(fabric: Fabric, records: Mapping[int, Record], t0: float,
           used: Mapping[str, float], load: float) -> list[str]:
    """What else the storm showed: CPU, where a move's time went, and when the moves the
    fabric made whole were done next to the others."""
    notes = ["CPU during the storm: " + ", ".join(f"{n} {s:.2f} s" for n, s in used.items())
             + f"; load average {load:.1f} on {os.cpu_count()} cores when it began"]
    decided = Spread.of([r.decision_ms for r in records.values() if r.decision_ms is not None])
    written = Spread.of([r.write_ms for r in records.values() if r.write_ms is not None])
    if decided.n:
        notes.append(f"per move, packet-in -> the controller's decision (queued and parsed): "
                     f"median {decided.p50:,.1f} ms, max {decided.max:,.1f} ms; its longest "
                     f"Write round trip: median {written.p50:,.1f} ms, max "
                     f"{written.max:,.1f} ms; the rest is planning and waiting to write")
    whole = [r for r in records.values() if fabric.moves_itself(r.mac)]
    if whole:
        parts = [r for r in records.values() if not fabric.moves_itself(r.mac)]
        notes.append(
            f"last write of the {len(parts)} moves whose RARP the storm sent: "
            f"{(max((r.time for r in parts), default=t0) - t0) * 1e3:,.1f} ms after the "
            f"start; of the {len(whole)} VMs moved whole (interface swap, as `ctrl lab "
            f"migrate`): {(max(r.time for r in whole) - t0) * 1e3:,.1f} ms")
    return notes


@dataclass(frozen=True, slots=True)
class Record:
    """A move's convergence as the controller recorded it (GET /api/v1/moves)."""

    mac: int
    at: str
    ms: float
    time: float
    failed: tuple[str, ...]
    decision_ms: float | None = None   # its packet-in to the controller's decision
    write_ms: float | None = None      # the longest round trip of its Writes

    @classmethod
    def of(cls, row: Mapping[str, object]) -> Record:
        failed = row.get("failed") or []
        assert isinstance(failed, list)
        stages = row.get("stages")
        stages = stages if isinstance(stages, dict) else {}
        decision = stages.get("packet_in_to_decision_ms")
        writes = [float(str(w["ms"])) for w in stages.get("writes") or []
                  if isinstance(w, dict) and "ms" in w]
        return cls(int(str(row["mac"]).replace(":", ""), 16), str(row["at"]),
                   float(str(row["ms"])), float(str(row["time"])),
                   tuple(str(f) for f in failed),
                   None if decision is None else float(str(decision)),
                   max(writes) if writes else None)


def moves_records(api: str, since: float, wanted: Mapping[int, object]
                  ) -> dict[int, Record]:
    """The controller's convergence record of every mover's arrival, polled every
    POLL_S, each time only those since the last one read (the poll costs the
    controller little while it works)."""
    got: dict[int, Record] = {}
    deadline = time.monotonic() + STORM_TIMEOUT
    while len(got) < len(wanted) and time.monotonic() < deadline:
        time.sleep(POLL_S)
        rows = call(api, f"moves?since={since}", timeout=30)
        assert isinstance(rows, list)
        for row in rows:
            r = Record.of(row)
            since = max(since, r.time)
            if r.mac in wanted and r.at == str(wanted[r.mac]):
                got[r.mac] = r
    if len(got) < len(wanted):
        raise LabError(f"{len(wanted) - len(got)} of {len(wanted)} moves have no convergence "
                       f"record after {STORM_TIMEOUT:.0f} s")
    return got


def announced_count(moves: int, share: float) -> int:
    """How many of `moves` a share announces (0 to 1, said as a LabError otherwise)."""
    if not 0 <= share <= 1:
        raise LabError(f"--announced {share}: a share, 0 to 1")
    return round(moves * share)


def run_sink_storm(options: StormOptions, work: Path, say: Progress = _quiet,
                   sizes: tuple[int, ...] = ()) -> Generator[StormReport, None, None]:
    """The fabric brought up once; a storm of `options.moves` (or one of each of `sizes`,
    each after the last has converged); the fabric taken down."""
    announced_count(0, options.announced)
    raise_fd_limit()
    hosts = scale_hosts(options.k, options.vms, options.vnets, options.placement,
                        options.seed)
    shutil.rmtree(work, ignore_errors=True)
    say(f"k={options.k} fat-tree on the sink target: {5 * options.k ** 2 // 4} switches, "
        f"{options.vms:,} VMs in {options.vnets:,} virtual networks ({options.placement})")
    at: dict[int, str] = {}
    with SinkFabric(work, hosts, say) as fabric:
        for i, size in enumerate(sizes or (options.moves,)):
            movers = hosts.moves(size, options.seed + 1 + i, at)
            yield storm(fabric, movers, announced_count(size, options.announced), say)
            at.update((h.mac, hv) for h, hv in movers)
