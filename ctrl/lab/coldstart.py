"""A controller's cold start against switches that hold many VMs' entries, and its memory.

On the sink target (ctrl/targets/sink/): a first `ctrl serve` whose topology declares N
VMs fills the switches (every switch in sync); it is killed (SIGKILL, a crash); a second
starts from the same fabric without one VM in its topology, so that every host is known
only from what the switches hold: it reads back, adopts the hosts, reconciles and is in
sync. Measured: from the second's start to every switch in sync, and the CPU it used by
then (what a loaded machine changes least), the updates it had to write (0 when nothing
was lost), its RSS then and its high-water mark, and the first's RSS with the VMs
declared. `cold_starts` restarts the second several times against switches filled once.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ctrl.lab import procs
from ctrl.lab.fattree import scale_hosts
from ctrl.lab.storm import SinkFabric, cpu_seconds, raise_fd_limit
from ctrl.northbound.client import ApiError, call

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True, slots=True)
class ColdStart:
    vms: int
    vnets: int
    placement: str
    switches: int
    entries: int                  # held by the switches, all together
    fill_s: float                 # the first controller: start to every switch in sync
    fill_rss_mb: float            # its RSS then (VMs declared in its topology)
    in_sync_s: float              # the second: start to every switch in sync
    cpu_s: float                  # the CPU it used by then (user and system)
    hosts_adopted: int            # hosts it knows then (from the switches alone)
    written: int                  # updates it wrote to get there
    rss_mb: float                 # its RSS then
    peak_mb: float                # its high-water mark (VmHWM)
    load: float                   # the machine's load average (1 min) then

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    def line(self) -> str:
        return (f"{self.vms:>7,} VMs in {self.vnets} networks ({self.placement}), "
                f"{self.switches} switches holding {self.entries:,} entries: cold start in sync "
                f"in {self.in_sync_s:.1f} s ({self.cpu_s:.1f} s CPU, load {self.load:.1f}), "
                f"{self.hosts_adopted:,} hosts adopted, "
                f"{self.written:,} updates written; RSS {self.rss_mb:.0f} MB (peak "
                f"{self.peak_mb:.0f} MB); the filling controller {self.fill_rss_mb:.0f} MB "
                f"(filled in {self.fill_s:.1f} s)")


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MB."""
    text = Path(f"/proc/{pid}/status").read_text()
    got = {m.group(1): int(m.group(2)) / 1024
           for m in re.finditer(r"^(VmRSS|VmHWM):\s+(\d+) kB", text, re.M)}
    return got.get("VmRSS", 0.0), got.get("VmHWM", 0.0)


def cold_start(k: int, vms: int, vnets: int, placement: str, work: Path,
               say: Progress = _quiet, seed: int = 1) -> ColdStart:
    return cold_starts(k, vms, vnets, placement, work, 1, say, seed)[0]


def cold_starts(k: int, vms: int, vnets: int, placement: str, work: Path, starts: int,
                say: Progress = _quiet, seed: int = 1) -> list[ColdStart]:
    """`starts` cold starts against switches filled once (filling 100,000 VMs' entries
    takes minutes; a restart, seconds): each a new controller, killed after."""
    raise_fd_limit()
    hosts = scale_hosts(k, vms, vnets, placement, seed)
    say(f"k={k} fat-tree, {vms:,} VMs in {vnets} networks ({placement}): filling the sink")
    out: list[ColdStart] = []
    with SinkFabric(work, hosts, say) as fabric:
        first = fabric.started[-1]
        fill_s = time.monotonic() - _started(first)
        fill_rss, _ = memory_mb(first.pid)
        entries = sum(int(str(n)) for n in _held(fabric).values())
        procs.kill(first)
        fabric.started.remove(first)
        topo = work / "topology-bare.yaml"   # written by the fabric: no VM in it
        switches = len(fabric.topology.switches)
        for i in range(starts):
            say(f"{entries:,} entries held; the controller killed; a new one from a topology "
                f"with no VMs ({i + 1} of {starts})")
            start = time.monotonic()
            second = fabric.start_controller(topo, f"controller-{i + 2}.log")
            in_sync = time.monotonic() - start
            cpu = cpu_seconds(second.pid)
            rss, peak = memory_mb(second.pid)
            rows = call(fabric.api, "switches", timeout=30)
            assert isinstance(rows, list)
            written = sum(int(r.get("writes", 0)) for r in rows)
            known = call(fabric.api, "hosts", timeout=60)
            adopted = len(known) if isinstance(known, list) else 0
            out.append(ColdStart(vms, vnets, placement, switches, entries, fill_s, fill_rss,
                                 in_sync, cpu, adopted, written, rss, peak, os.getloadavg()[0]))
            say(out[-1].line())
            procs.kill(second)
            fabric.started.remove(second)
    return out


def _started(p: procs.Proc) -> float:
    """The process's start, on time.monotonic()'s clock (CLOCK_MONOTONIC: ticks since
    boot, as /proc/PID/stat's start time counts them)."""
    return p.start / procs.TICKS


def _held(fabric: SinkFabric) -> dict[str, object]:
    answer = fabric.sink({"held": True})
    held = answer.get("held")
    return held if isinstance(held, dict) else {}


def write_report(results: list[ColdStart], out: Path) -> None:
    out.write_text(json.dumps([r.to_json() for r in results], indent=1))


__all__ = ["ApiError", "ColdStart", "cold_start", "cold_starts", "memory_mb", "write_report"]
