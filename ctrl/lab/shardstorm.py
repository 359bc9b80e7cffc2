"""`ctrl lab storm --shards N`: the sharding by site of the README's "Beyond one machine",
simulated on one machine, on the sink target.

Each shard is a site of its own: a k-ary fat-tree served by a `ctrl sink-target` of its
own, with a `ctrl serve` of its own, the only controller of that site's switches; the
VMs and the moves are dealt out over the sites, and every move stays within its site.
The storms start together (a barrier) and the report puts them on one clock: first
announcement in any site to the last write acknowledged in any, each move's
convergence over all of them, the writes per switch (site/switch), each site's figures
in a note. What it does not do, said in the report: no move crosses sites (the
controllers share no host records: the etcd table of that design is not built), and
every controller and sink shares this machine's cores.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ctrl.lab.fattree import ScaleHost, ScaleHosts, scale_hosts
from ctrl.lab.spec import LabError
from ctrl.lab.storm import (
    SinkFabric,
    StormOptions,
    announced_count,
    moves_records,
    raise_fd_limit,
    storm,
)
from ctrl.lab.stormreport import Spread, StormReport, SwitchWrites

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ShardRun:
    """One site's storm: its report, when it began (time.monotonic(), just before its
    first announcement) and each move's convergence in ms."""

    report: StormReport
    start: float
    ms: tuple[float, ...]


def deal(total: int, shards: int) -> list[int]:
    """`total` dealt over `shards` as evenly as it goes, the first ones taking the rest."""
    if shards < 1:
        raise LabError(f"--shards {shards}: one or more")
    base, rest = divmod(total, shards)
    return [base + (1 if i < rest else 0) for i in range(shards)]


def label(shards: int, k: int, cores: int | None) -> str:
    return (f"{shards} shards, one a site: a k={k} fat-tree ({5 * k * k // 4} switches) "
            "with a `ctrl serve` of its own, the only controller of that site's switches, "
            "against a sink target of its own (real P4Runtime, every write taken and kept, "
            "no data plane); every move within its site (no host records shared: moves "
            f"across sites not simulated); all on this machine's {cores} cores")


def combine(runs: Sequence[ShardRun], k: int, cores: int | None = None) -> StormReport:
    """The sites' storms as one, on one clock (pure)."""
    if not runs:
        raise ValueError("no shard ran")
    t0 = min(r.start for r in runs)
    reports = [r.report for r in runs]
    total = max((r.start - t0) * 1e3 + r.report.total_ms for r in runs)
    writes = tuple(SwitchWrites(f"site{i + 1}/{w.switch}", w.updates, w.batches)
                   for i, r in enumerate(reports) for w in r.writes)
    failed = tuple(f"site{i + 1}: {f}" for i, r in enumerate(reports) for f in r.not_converged)
    cpu: dict[str, float] = {}
    notes = []
    for i, r in enumerate(reports):
        used = r.extra.get("cpu_s", {})
        assert isinstance(used, Mapping)
        cpu.update({f"site{i + 1} {name}": float(s) for name, s in used.items()})
        notes.append(
            f"site{i + 1}: {r.moves:,} moves ({r.announced:,} announced), started "
            f"{(runs[i].start - t0) * 1e3:,.1f} ms after the first; first announcement -> "
            f"last write {r.total_ms:,.1f} ms; median move {r.convergence.p50:,.1f} ms; CPU "
            + ", ".join(f"{name} {float(s):.2f} s" for name, s in used.items()))
    notes.append(f"CPU of all sites: controllers {_sum(cpu, 'controller'):.2f} s, sinks "
                 f"{_sum(cpu, 'sink'):.2f} s, on {cores} cores")
    first = reports[0]
    return StormReport(
        label(len(runs), k, cores), sum(r.switches for r in reports),
        sum(r.vms for r in reports), sum(r.vnets for r in reports),
        sum(r.moves for r in reports), sum(r.announced for r in reports),
        sum(r.converged for r in reports), failed, total,
        max(r.announce_ms for r in reports),
        Spread.of([ms for r in runs for ms in r.ms]), writes, notes=tuple(notes),
        extra={"cpu_s": cpu, "load": first.extra.get("load"), "shards": len(runs)})


def _sum(cpu: Mapping[str, float], kind: str) -> float:
    return sum(s for name, s in cpu.items() if name.split(" ", 1)[1].startswith(kind))


def _one(fabric: SinkFabric, movers: list[tuple[ScaleHost, str]], announced: int,
         ready: threading.Barrier, say: Progress) -> ShardRun:
    ready.wait()
    start = time.monotonic()
    report = storm(fabric, movers, announced, say)
    wanted = {h.mac: fabric.topology.hypervisors[hv].attach for h, hv in movers}
    ms = tuple(r.ms for r in moves_records(fabric.api, start, wanted).values())
    return ShardRun(report, start, ms)


def run_shard_storm(options: StormOptions, shards: int, work: Path, say: Progress,
                    sizes: tuple[int, ...] = ()) -> Generator[StormReport, None, None]:
    """`shards` sites brought up one after the other (each in sync before the next), the
    VMs (`options.vms`) and each storm's moves dealt over them; the storms of one size
    started together, one report for them all; every site taken down at the end."""
    announced_count(0, options.announced)
    counts = deal(options.vms, shards)
    for size in sizes or (options.moves,):
        if size < shards:
            raise LabError(f"{size} moves over {shards} sites: at least one a site")
    raise_fd_limit()
    shutil.rmtree(work, ignore_errors=True)
    hosts: list[ScaleHosts] = [
        scale_hosts(options.k, n, options.vnets, options.placement, options.seed + i)
        for i, n in enumerate(counts)]
    say(f"{shards} sites, each a k={options.k} fat-tree on a sink target of its own: "
        f"{shards * 5 * options.k ** 2 // 4} switches, {options.vms:,} VMs")
    at: list[dict[int, str]] = [{} for _ in range(shards)]
    with contextlib.ExitStack() as stack:
        fabrics = []
        for i, h in enumerate(hosts):
            fabrics.append(stack.enter_context(
                SinkFabric(work / f"site{i + 1}", h, _prefixed(say, i))))
        for n, size in enumerate(sizes or (options.moves,)):
            moving = deal(size, shards)
            movers = [h.moves(m, options.seed + 1 + n, at[i])
                      for i, (h, m) in enumerate(zip(hosts, moving, strict=True))]
            ready = threading.Barrier(shards)
            pool = ThreadPoolExecutor(shards, thread_name_prefix="shard")
            try:
                futures = [pool.submit(_one, f, mv, announced_count(len(mv), options.announced),
                                       ready, _prefixed(say, i))
                           for i, (f, mv) in enumerate(zip(fabrics, movers, strict=True))]
                runs = [f.result() for f in futures]
            except BaseException:
                # Ctrl-C, or a site's error: the sites come down before the storms are
                # waited for, so that their calls to their controllers fail at once
                # instead of polling on until their timeout.
                ready.abort()   # a site still at the barrier goes no further
                stack.close()
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
            yield combine(runs, options.k, os.cpu_count())
            for i, mv in enumerate(movers):
                at[i].update((h.mac, hv) for h, hv in mv)


def _prefixed(say: Progress, i: int) -> Progress:
    return lambda text: say(f"site{i + 1}: {text}")

