"""`ctrl lab storm --target ovs`: the storm through the lab's own Open vSwitch bridges.

The lab is a k-ary fat-tree (fat-tree:8 by default: 80 bridges behind one P4Runtime
server, 128 hypervisors) holding VMS VMs: the probed pairs' VMs are namespaces, as in
any lab; every other one is light (a MAC and an address, no namespace: ctrl/lab/light.py),
so that a thousand fit on this machine. A storm moves M light VMs and one VM of each
probed pair at once: the namespace VMs set off as `ctrl lab migrate` moves them
(announcing themselves, or not, by the same share), while a share of the light movers is
announced through the API, then every light mover's RARP leaves its new hypervisor's
uplink, a real frame into the switch's bridge and up to the controller as a packet-in. The UDP probe
runs both ways between each pair from `settle` seconds before the storm to `settle`
after its last write. Convergence comes from the controller's own record of each move
(GET /api/v1/moves), loss from the probe. Everything is taken down at the end, and what
was left behind (checked as `ctrl lab down` checks) is an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import threading
import time
from collections.abc import Callable, Collection, Generator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

from ctrl.lab import build, faults
from ctrl.lab.demo import GAP_FLOOR_MS, endpoints, new_lab
from ctrl.lab.fattree import ScaleHost, ScaleHosts, scale_hosts, storm_yaml
from ctrl.lab.leftovers import left_behind
from ctrl.lab.light import LightSenders
from ctrl.lab.migrate import migrate
from ctrl.lab.probe import Probe, ProbeOptions
from ctrl.lab.report import Report
from ctrl.lab.spec import LabError
from ctrl.lab.state import LabState
from ctrl.lab.storm import StormOptions, announced_count, raise_fd_limit, storm
from ctrl.lab.stormreport import ProbeLoss, StormReport

Progress = Callable[[str], None]
Pair = tuple[ScaleHost, ScaleHost]


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    pairs: int = 2                # probed pairs (namespace VMs); one of each moves
    rate: float = 200.0           # UDP datagrams per second, each way
    settle: float = 1.0           # seconds of probing before and after each storm


def lab_name(state_dir: Path) -> str:
    """The storm lab's name (its namespaces': `NAME-hv-...`), after its state directory."""
    return "storm" + hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:6]


class LabFabric:
    """The lab of `hosts` on the Open vSwitch target, the VMs of `pairs` namespaces and
    the rest light; up on entry, down on exit (an error if anything is left behind)."""

    def __init__(self, state_dir: Path, hosts: ScaleHosts, pairs: Sequence[Pair],
                 say: Progress = _quiet) -> None:
        self.hosts = hosts
        self.say = say
        self.namespaced = {h.mac for pair in pairs for h in pair}
        text = storm_yaml(lab_name(state_dir), hosts, pairs)
        self.state, self.spec = new_lab(text, f"fat-tree:{hosts.k} storm", state_dir, "ovs",
                                        "netns")
        self.api = self.state.api
        self.topology = self.spec.topology
        self.label = (f"Open vSwitch target ({self.state.datapath} datapath): "
                      f"{len(self.spec.switches)} bridges behind one P4Runtime server, real "
                      f"frames through them; {len(self.spec.light):,} light VMs (RARPs sent "
                      f"from their hypervisors' uplinks), {len(self.spec.hosts)} namespace "
                      "VMs under the probe")
        self._senders: LightSenders | None = None
        self._moving: list[threading.Thread] = []
        self._errors: list[BaseException] = []

    def __enter__(self) -> LabFabric:
        self.spec = build.up(self.state, self.say)
        try:
            self._senders = LightSenders(self.spec).__enter__()
        except BaseException:
            self._down()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for t in self._moving:   # a storm cut short: its migrations end first
            t.join()
        if self._senders is not None:
            self._senders.__exit__(None, None, None)
        left = self._down()
        if left and kind is None:
            raise LabError(f"the storm's lab is down, but {len(left)} things are left: "
                           + "; ".join(left[:5]))

    def _down(self) -> list[str]:
        # The state as the migrations left it on disk (each moved under the lab's lock).
        self.state = LabState.load(self.state.dir) or self.state
        links = list(self.state.links)
        build.down(self.state, self.say)
        left = left_behind(self.spec, self.state, links)
        for thing in left:
            self.say(f"left behind: {thing}")
        return left

    def processes(self) -> Mapping[str, int]:
        out = {p.name: p.pid for p in self.state.processes}
        for site in self.topology.sites:
            pid = faults.vswitchd_pid(self.state, f"{faults.VSWITCHD}:{site}")
            if pid is not None:
                out[f"ovs-vswitchd {site}"] = pid
        return out

    def moves_itself(self, mac: int) -> bool:
        return mac in self.namespaced

    def depart(self, movers: Sequence[tuple[ScaleHost, str]], announced: Collection[int]
               ) -> None:
        """The namespace VMs set off, moved as `ctrl lab migrate` moves them (announced
        first if in `announced`), a thread each: their interface swap takes longest."""
        if self._moving:
            raise LabError("the last storm's namespace VMs are still moving")
        for h, to in movers:
            if self.moves_itself(h.mac):
                t = threading.Thread(target=self._move, args=(h, to, h.mac in announced),
                                     name=f"migrate {h.name}")
                t.start()
                self._moving.append(t)

    def _move(self, h: ScaleHost, to: str, announce: bool) -> None:
        try:   # a state of its own: migrate() reloads it under the lab's lock
            state = LabState.load(self.state.dir)
            if state is None:
                raise LabError("the storm's lab has no state")
            migrate(state, h.name, to, announce=announce)
        except BaseException as exc:   # said by arrive(), in the storm's thread
            self._errors.append(exc)

    def arrive(self, movers: Sequence[tuple[ScaleHost, str]]) -> None:
        """Every light mover's RARP from its new hypervisor, then the namespace VMs
        waited for; the light ones' new places in the state."""
        assert self._senders is not None, "the fabric is not up"
        light = [(h, to) for h, to in movers if not self.moves_itself(h.mac)]
        try:
            self._senders.announce([(h.mac, to) for h, to in light])
        finally:
            for t in self._moving:
                t.join()
            self._moving.clear()
        if self._errors:
            error, self._errors = self._errors[0], []
            raise LabError(f"a probed VM's migration failed: {error}") from error
        with self.state.exclusive():
            self.state.locations.update((h.name, to) for h, to in light)
            self.state.save()


def probe_losses(pairs: Sequence[Pair], moved: Mapping[int, bool],
                 reports: Sequence[Report]) -> tuple[ProbeLoss, ...]:
    """Each direction of each pair's UDP stream; `moved`: MAC -> announced, of the
    pairs' VMs that moved."""
    out = []
    for (a, b), report in zip(pairs, reports, strict=True):
        mover = next((h for h in (a, b) if h.mac in moved), None)
        for u in report.udp:
            out.append(ProbeLoss(u.direction, mover.name if mover else "",
                                 moved.get(mover.mac, False) if mover else False,
                                 u.sent, u.lost, u.longest_loss_ms, u.longest_gap_ms,
                                 u.send_gap_ms))
    return tuple(out)


def run_lab_storm(options: StormOptions, state_dir: Path,
                  probes: ProbeSettings = ProbeSettings(),
                  say: Progress = _quiet, sizes: tuple[int, ...] = ()
                  ) -> Generator[StormReport, None, None]:
    """The lab brought up once; a storm of `options.moves` light VMs and one VM of each
    probed pair (or one of each of `sizes`, in turn), under the probe; the lab taken
    down."""
    announced_count(0, options.announced)
    if probes.pairs < 1:
        raise LabError("--probes: one pair at least (the storm's loss is the probe's)")
    raise_fd_limit()
    hosts = scale_hosts(options.k, options.vms, options.vnets, options.placement,
                        options.seed)
    pairs = hosts.probe_pairs(probes.pairs)
    skip = {h.mac for pair in pairs for h in pair}
    plan = []
    at: dict[int, str] = {}
    for i, size in enumerate(sizes or (options.moves,)):   # all checked before the lab is up
        light = hosts.moves(size, options.seed + 1 + i, at, skip)
        rng = random.Random(options.seed + 1000 + i)
        probed = [(b, hosts.elsewhere(b, rng, at)) for _, b in pairs]
        told = announced_count(len(probed), options.announced)
        told_light = announced_count(size, options.announced)
        # Announced ones first (storm() announces movers[:announced]).
        movers = probed[:told] + light + probed[told:]
        plan.append((movers, told + told_light, {b.mac: j < told for j, (b, _) in
                                                 enumerate(probed)}))
        at.update((h.mac, hv) for h, hv in movers)
    popts = ProbeOptions(udp_rate=probes.rate, tcp_rate=0.0, min_interruption_ms=GAP_FLOOR_MS)
    say(f"k={options.k} fat-tree on the Open vSwitch target: {5 * options.k ** 2 // 4} "
        f"bridges, {options.vms:,} VMs ({len(skip)} of them namespaces under the probe, the "
        f"rest light) in {options.vnets:,} virtual networks ({options.placement})")
    with LabFabric(state_dir, hosts, pairs, say) as fabric:
        for movers, announced, moved in plan:
            with contextlib.ExitStack() as stack:
                running = []
                for a, b in pairs:
                    probe = Probe(*endpoints(fabric.spec, (a.name, b.name)), popts)
                    running.append(stack.enter_context(probe))
                time.sleep(probes.settle)
                report = storm(fabric, movers, announced, say)
                time.sleep(probes.settle)
            yield replace(report, probes=probe_losses(
                pairs, moved, [p.report for p in running if p.report is not None]))
