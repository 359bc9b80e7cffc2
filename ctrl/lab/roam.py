"""`ctrl lab demo stanford`: the Stanford demo, the placement engine doing the moving.

A game server in a VM, two players (a laptop, a phone) talking to it from the wireless
access points of two buildings (the lab file's `lab: roam`). The demo moves only the
players; the controller's placement engine (policy follow-clients, from the topology
file) migrates the server, through the lab, with `"cause": "placement"`.

1. Follow: every player walks to the first building's access point, then all to the
   second's; each time the engine should bring the server to the building's VM host.
2. Oscillation: one player walks back and forth between the buildings every few
   seconds while the other stays; first with the policy's threshold above what a move
   could save (through the API: no migration), then below it (migrations, at most one
   per dwell time).

Meanwhile each player runs the probe to the server (UDP both ways at its rate) and an
ICMP echo every 0.1 s; the controller's view (where each host is, the engine's decision)
is read four times a second. The report (roam.json, summary.txt) gives per step the
players' hop counts and RTT, each decision and migration with its cause, each
interruption; roam.png plots hop count and RTT over time with the migrations marked
(ctrl/lab/roamplot.py). The lab is torn down whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctrl.lab import build
from ctrl.lab.demo import endpoints, new_lab
from ctrl.lab.moves import Migration
from ctrl.lab.probe import Probe, ProbeOptions
from ctrl.lab.report import Report
from ctrl.lab.roamplot import save_roam_plot
from ctrl.lab.roamreport import (
    Step,
    Timeline,
    about,
    document,
    goals,
    interruptions,
    median_rtt,
    said,
    under_way,
)
from ctrl.lab.roamreport import summary as summary_lines
from ctrl.lab.rtt import Pinger
from ctrl.lab.spec import LabError, LabSpec, RoamSpec
from ctrl.lab.state import LabState
from ctrl.northbound.client import ApiError, call
from ctrl.p4rt.values import to_int
from ctrl.placement.fabric import Fabric
from ctrl.targets.ovs.dpdk import DpdkConfig

SAMPLE_S = 0.25         # the controller's view, read this often
PING_S = 0.1
SETTLE_S = 2.5          # after the server's move, the RTT medians are taken over this
UNDER, OVER = 0.3, 0.05  # the oscillation phases' thresholds (stanford's costs save <= 20 %)


@dataclass(frozen=True, slots=True)
class Timing:
    dwell: float = 5.0           # the server's policy's (the demo sets it through the API)
    every: float = 4.0           # the oscillating player changes building this often
    oscillate_s: float = 12.0    # each oscillation phase (30 s with --long)
    wait_s: float = 15.0         # at most, for the engine to move the server after a roam
    #                              (or to end a migration under way at a phase's end)


@dataclass(frozen=True, slots=True)
class RoamResult:
    lines: tuple[str, ...]
    files: tuple[Path, ...]
    ok: bool
    doc: Mapping[str, object]


class Mover:
    """The lab's mover (ctrl/lab/mover.py) for the players' roams: started once, so that a
    roam costs no interpreter's start (seconds under load) and keeps the demo's beat."""

    def __init__(self, state: LabState) -> None:
        argv = [sys.executable, "-m", "ctrl.cli", "lab", "--state-dir", str(state.dir),
                "mover"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)

    def move(self, host: str, to: str) -> None:
        stdin, stdout = self.proc.stdin, self.proc.stdout
        assert stdin is not None and stdout is not None
        stdin.write(json.dumps({"vm": host, "to": to, "cause": "roam"}) + "\n")
        stdin.flush()
        line = stdout.readline()
        reply = json.loads(line) if line else {"ok": False, "error": "the mover ended"}
        if not reply.get("ok"):
            raise LabError(f"{host} could not roam to {to}: {reply.get('error')}")

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Watcher:
    """The controller's view four times a second: each player's hop count to the server
    (where the controller has them, links by the path engine that forwards) and the
    engine's decision for the server, as it changes; the engine's whole status about the
    server as last read (`engine`, read at `engine_at`)."""

    def __init__(self, state: LabState, spec: LabSpec, roam: RoamSpec, t: Timeline) -> None:
        self.api, self.roam, self.t = state.api, roam, t
        self.fabric = Fabric(spec.topology)
        self.macs = {to_int(spec.hosts[h].mac): h for h in
                     [roam.server, *(p for p, _ in roam.players)]}
        self.where: dict[str, str] = {}
        self.engine: dict[str, Any] = {}
        self.engine_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watch", daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        last = None
        while not self._stop.wait(SAMPLE_S):
            try:
                hosts = call(self.api, "hosts", timeout=2)
                status = call(self.api, "placement", timeout=2)
            except ApiError:
                continue
            now = time.monotonic()
            assert isinstance(hosts, list) and isinstance(status, dict)
            self.engine, self.engine_at = about(status, self.roam.server), now
            placement: dict[str, Any] = next(iter(self.engine["vms"]), {})
            self.where = {self.macs[to_int(h["mac"])]: h["switch"] for h in hosts
                          if to_int(h["mac"]) in self.macs}
            server = self.where.get(self.roam.server)
            self.t.hops.append((now, {p: None if server is None or p not in self.where
                                      else self.fabric.links(self.where[p], server)
                                      for p, _ in self.roam.players}))
            d = placement.get("decision") or {}
            seen = (d.get("decision"), d.get("to"), d.get("why"))
            if d and seen != last:
                last = seen
                self.t.decisions.append((now, str(seen[0]), seen[1], str(seen[2])))

    def settled(self, since: float, until: float) -> bool:
        """Wait for a view read after `since` in which none of the engine's migrations is
        under way: each that ended is in the lab's events by then (the lab's mover records
        a migration before it answers the engine). False if none came by `until`."""
        while True:
            if self.engine_at > since and self.engine and under_way(self.engine) == 0:
                return True
            if time.monotonic() >= until:
                return False
            time.sleep(0.05)


def best_place(spec: LabSpec, fabric: Fabric, at: Mapping[str, str],
               rates: Mapping[str, float]) -> str:
    """Where the server is best by the engine's own measure: packets/s x links."""
    topo = spec.topology
    targets = [h for h in topo.hypervisors.values() if h.max_vms != 0]

    def cost(h: str) -> float:
        there = topo.hypervisors[h].attach.switch
        return sum(rate * (fabric.links(topo.hypervisors[at[p]].attach.switch, there) or 0)
                   for p, rate in rates.items())
    return min((h.name for h in targets), key=lambda h: (cost(h), h))


def fewest_hops(spec: LabSpec, fabric: Fabric, ap: str) -> int:
    topo = spec.topology
    here = topo.hypervisors[ap].attach.switch
    return min(fabric.links(here, h.attach.switch) or 0 for h in topo.hypervisors.values()
               if h.max_vms != 0)


def placement_moves(state: LabState, server: str, since: float) -> list[Migration]:
    return [Migration.from_json(e) for e in state.events()
            if e.get("host") == server and e.get("cause") == "placement"
            and float(str(e.get("asked"))) >= since]


def set_threshold(state: LabState, roam: RoamSpec, spec: LabSpec, threshold: float,
                  dwell: float) -> None:
    placement = spec.topology.vms[roam.server].placement
    assert placement is not None
    body: dict[str, object] = {"policy": placement.policy, **dict(placement.params),
                               "threshold": threshold, "dwell": dwell}
    call(state.api, f"placement/{roam.server}", body, "PUT")


@contextlib.contextmanager
def players_talking(spec: LabSpec, roam: RoamSpec, t: Timeline
                    ) -> Iterator[dict[str, Probe]]:
    """A probe (UDP both ways at the player's rate) and an ICMP echo per player."""
    probes: dict[str, Probe] = {}
    pingers: dict[str, Pinger] = {}
    with contextlib.ExitStack() as stack:
        for i, (player, rate) in enumerate(roam.players):
            a, b = endpoints(spec, (player, roam.server))
            options = ProbeOptions(udp_rate=rate, tcp_rate=0.0, udp_port=47200 + 2 * i,
                                   min_interruption_ms=2.0)
            probes[player] = stack.enter_context(Probe(a, b, options))
            pingers[player] = stack.enter_context(
                Pinger(spec.hosts[player].ns or None, spec.hosts[roam.server].ip,
                       interval=PING_S))
        yield probes
    for player, p in pingers.items():
        t.rtt[player] = p.samples


def _roam_step(state: LabState, spec: LabSpec, roam: RoamSpec, mover: Mover, w: Watcher,
               t: Timeline, ap: str, at: dict[str, str], timing: Timing,
               say: Callable[[str], None]) -> Step:
    rates = dict(roam.players)
    step = Step(f"everyone to {ap}", "roam", time.monotonic(), before=_server_at(state, roam))
    for player, _ in roam.players:
        if at[player] != ap:
            mover.move(player, ap)
            at[player] = ap
            say(f"{player} roams to {ap}")
    moved = time.monotonic()
    step.players = dict(at)
    step.expected = best_place(spec, w.fabric, at, rates)
    step.minimum = {p: fewest_hops(spec, w.fabric, ap) for p, _ in roam.players}
    # The engine's own record of the move (the lab's event of a migration with cause
    # placement), not where the lab has the server: the lab's mover saves the new place
    # before it appends the event, so a step that saw the server arrive could read no
    # event yet, and call a migration that happened none.
    deadline = moved + timing.wait_s
    found = placement_moves(state, roam.server, step.start)
    while (step.expected != step.before and time.monotonic() < deadline
           and not any(m.dst == step.expected for m in found)):
        time.sleep(0.1)
        found = placement_moves(state, roam.server, step.start)
    step.engine = said(w.engine)
    if found:
        step.migration = found[-1]
        step.after_s = round(step.migration.resumed - moved, 3)
        say(f"the engine migrated {roam.server} to {step.migration.dst}, "
            f"{step.after_s:.2f} s after the last roam")
    else:
        say(f"no migration of {roam.server} by the engine within {timing.wait_s:g} s of "
            f"the last roam (the lab has it at {_server_at(state, roam)}); the engine, "
            f"{time.monotonic() - w.engine_at:.1f} s ago: {step.engine}")
    time.sleep(SETTLE_S + 0.5)
    step.end = time.monotonic()
    step.server = _server_at(state, roam)
    step.hops = dict(t.hops[-1][1]) if t.hops else {}
    step.rtt_ms = {p: None for p, _ in roam.players}
    return step


def _start_step(state: LabState, spec: LabSpec, roam: RoamSpec, w: Watcher, t: Timeline,
                at: dict[str, str]) -> Step:
    """Where everyone is when the players start (the topology's places)."""
    now = time.monotonic()
    server = _server_at(state, roam)
    step = Step("at the start", "roam", now - SETTLE_S, now, dict(at),
                best_place(spec, w.fabric, at, dict(roam.players)), server, server)
    step.minimum = {p: fewest_hops(spec, w.fabric, at[p]) for p, _ in roam.players}
    step.hops = dict(t.hops[-1][1]) if t.hops else {}
    return step


def _server_at(state: LabState, roam: RoamSpec) -> str | None:
    fresh = LabState.load(state.dir)
    return None if fresh is None else fresh.locations.get(roam.server)


def _oscillate(state: LabState, spec: LabSpec, roam: RoamSpec, mover: Mover, w: Watcher,
               t: Timeline, at: dict[str, str], threshold: float, timing: Timing, label: str,
               say: Callable[[str], None]) -> Step:
    set_threshold(state, roam, spec, threshold, timing.dwell)
    say(f"{label}: threshold {100 * threshold:.0f}% through the API; {roam.oscillate} "
        f"changes building every {timing.every:g} s for {timing.oscillate_s:g} s")
    step = Step(label, "oscillate", time.monotonic(), threshold=threshold)
    aps = list(roam.access_points[:2])
    end = step.start + timing.oscillate_s
    while time.monotonic() < end:
        to = aps[0] if at[roam.oscillate] != aps[0] else aps[1]
        mover.move(roam.oscillate, to)
        at[roam.oscillate] = to
        step.roams += 1
        time.sleep(max(0.0, min(timing.every, end - time.monotonic())))
    step.players = dict(at)
    # What the engine does after the last roam, within a dwell, is this phase's too; a
    # migration it started by then is counted once it ended.
    time.sleep(timing.dwell + 1.5)
    ended = time.monotonic()
    if not w.settled(ended, ended + timing.wait_s):
        say(f"{label}: a migration of the engine's still under way after "
            f"{timing.wait_s:g} s: not counted")
    step.engine = said(w.engine)
    step.end = time.monotonic()
    step.migrations = placement_moves(state, roam.server, step.start)
    step.server = _server_at(state, roam)
    return step


def _saving(spec: LabSpec, fabric: Fabric, roam: RoamSpec, home: str) -> float:
    """The most a move could save while the oscillating player is away from `home`."""
    rates = dict(roam.players)
    away = next(ap for ap in roam.access_points if ap != home)
    at = {p: (away if p == roam.oscillate else home) for p in rates}
    topo = spec.topology

    def cost(h: str) -> float:
        there = topo.hypervisors[h].attach.switch
        return sum(rates[p] * (fabric.links(topo.hypervisors[at[p]].attach.switch, there)
                               or 0) for p in rates)
    here = best_place(spec, fabric, {p: home for p in rates}, rates)
    best = best_place(spec, fabric, at, rates)
    return (cost(here) - cost(best)) / cost(here) if cost(here) else 0.0


def run_roam_demo(topology_text: str, origin: str, *, state_dir: Path, out_dir: Path,
                  target: str = "ovs", guests: str = "netns", accel: str = "auto",
                  timing: Timing | None = None, say: Callable[[str], None] = print,
                  dpdk: DpdkConfig | None = None) -> RoamResult:
    timing = timing or Timing()
    state, probe_spec = new_lab(topology_text, origin, state_dir, target, guests, dpdk)
    roam = probe_spec.roam
    if roam is None:
        raise LabError(f"{origin} has no `lab: roam` section")
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = build.up(state, say, accel)
    t = Timeline(time.monotonic())
    steps: list[Step] = []
    reports: dict[str, tuple[Report, float]] = {}
    try:
        set_threshold(state, roam, spec, 0.2, timing.dwell)
        at = {p: spec.hosts[p].hypervisor for p, _ in roam.players}
        mover = Mover(state)
        try:
            with Watcher(state, spec, roam, t) as w, players_talking(spec, roam, t) as probes:
                time.sleep(SETTLE_S)
                steps.append(_start_step(state, spec, roam, w, t, at))
                for ap in roam.access_points:
                    steps.append(_roam_step(state, spec, roam, mover, w, t, ap, at, timing,
                                            say))
                home = at[roam.oscillate]
                saving = _saving(spec, w.fabric, roam, home)
                for label, threshold in (("oscillation under the threshold", UNDER),
                                         ("oscillation above the threshold", OVER)):
                    if at[roam.oscillate] != home:
                        mover.move(roam.oscillate, home)
                        at[roam.oscillate] = home
                    s = _oscillate(state, spec, roam, mover, w, t, at, threshold, timing,
                                   label, say)
                    s.saving = round(saving, 4)
                    steps.append(s)
                    say(f"{label}: {len(s.migrations)} migrations by the engine")
            for player, probe in probes.items():
                assert probe.report is not None
                reports[player] = (probe.report, probe.origin)
        finally:
            mover.close()
        t.moves = [Migration.from_json(e) for e in state.events()
                   if e.get("event") == "migration"]
    finally:
        build.down(state, say)
    for s in steps:
        if s.kind == "roam":
            s.rtt_ms = {p: median_rtt(t.rtt.get(p, []), s.end - SETTLE_S, s.end)
                        for p, _ in roam.players}
    cuts = interruptions(t.moves, reports)
    checks = goals(steps, cuts, timing.dwell)
    lines = summary_lines(t, steps, cuts, checks)
    doc = document(t, steps, cuts, checks, {
        "topology": spec.name, "target": target, "guests": guests,
        "server": roam.server, "players": dict(roam.players), "timing": {
            "dwell_s": timing.dwell, "every_s": timing.every,
            "oscillate_s": timing.oscillate_s},
        "thresholds": {"follow": 0.2, "under": UNDER, "over": OVER}})
    files = (out_dir / "roam.json", out_dir / "summary.txt", out_dir / "roam.png")
    files[0].write_text(json.dumps(doc, indent=1))
    files[1].write_text("\n".join(lines) + "\n")
    save_roam_plot(t, steps, files[2], title=f"{spec.name}: the game server follows its "
                   f"players ({target})")
    for name, (report, _) in reports.items():
        (out_dir / f"probe-{name}.json").write_text(report.to_json())
    return RoamResult(tuple(lines), files, all(g.met for g in checks), doc)

