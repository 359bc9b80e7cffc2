"""`ctrl lab demo`: Cloud Rack's experiment, reproduced and measured.

Bring the topology up, probe it quietly (no migration: nothing may be lost),
then probe it again while its `lab: demo` migrations happen one after another
(within a site, then across the WAN in cloud-rack.yaml), mark each, and print a
table of the interruptions next to Cloud Rack's 1-2 s, with the VM's own pause
and what the network added to it. The reports (JSON), the plot (PNG) and the
table land in the output folder; the lab is torn down whatever happens.

With real guests (`--guests qemu`) the VMs are QEMU guests, live-migrated; the
probe runs from a client's namespace and the guest's endpoint echoes it back
(echo mode), and the table puts side by side QEMU's own downtime, the guest's whole
pause (QEMU's STOP at the source to its RESUME at the destination), the
interruption the probe measured, and what lies beyond each.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

from ctrl.lab import breakdown, build, moves
from ctrl.lab.breakdown import Breakdown
from ctrl.lab.guests import GUEST_PORT
from ctrl.lab.htmlreport import Step, demo_page
from ctrl.lab.moves import Migration
from ctrl.lab.plot import Window, png
from ctrl.lab.probe import Endpoint, Probe, ProbeOptions, Progress
from ctrl.lab.report import Gap, Mark, Report
from ctrl.lab.spec import LabError, LabSpec, lab_tag, parse_lab
from ctrl.lab.state import LabState
from ctrl.targets.bmv2 import free_tcp_port
from ctrl.targets.ovs.dpdk import DpdkConfig

log = logging.getLogger(__name__)

CLOUD_RACK = "1,000-2,000 ms"   # the paper's interruption per migration (Section IV.B)
GAP_FLOOR_MS = 2.0             # gaps listed from this long: a 1 ms stream shows a 5 ms pause
BMV2_UDP_RATE = 250.0          # datagrams/s each way on bmv2 (1,000 elsewhere)
BMV2_TCP_RATE = 0.1e6          # bytes/s each way on bmv2 (4 MB/s elsewhere)
MIGRATE_TIMEOUT = 120.0        # seconds for one `ctrl lab migrate` (a QEMU guest's too)
WINDOW = (0.05, 0.5)           # a migration's gaps: from this long before its pause to after
GUEST_TCP_RATE = 1e6           # bytes/s through a guest's echo: TCG has little to spare
Row = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StepResult:
    label: str
    migration: Migration
    start: float               # window in the probe's seconds
    end: float
    at: float = 0.0            # the VM's pause, in the probe's seconds
    stages: Breakdown | None = None   # where the time went (ctrl/lab/breakdown.py)

    def step(self) -> Step:
        """As the plot and the HTML report show it."""
        m = self.migration
        facts = [("VM", f"{m.host}: {m.src} -> {m.dst}"),
                 ("mode", "announced" if m.announced else "reactive (unannounced)"),
                 ("the VM's pause", f"{m.downtime * 1e3:.1f} ms"),
                 ("asked to its pause", f"{(m.paused - m.asked) * 1e3:.1f} ms")]
        if m.qemu_downtime_ms is not None:
            facts.append(("QEMU's downtime", f"{m.qemu_downtime_ms:.1f} ms"))
        if self.stages is not None:
            facts += self.stages.facts()
        return Step(Window(self.label, self.at, m.downtime, self.start, self.end), facts)


@dataclass(frozen=True, slots=True)
class DemoResult:
    baseline: Report
    report: Report
    steps: tuple[StepResult, ...]
    table: tuple[str, ...]
    files: tuple[Path, ...]

    @property
    def ok(self) -> bool:
        """Nothing lost without migration; TCP complete and alive through all of them."""
        return (all(u.lost == 0 for u in self.baseline.udp)
                and all(t.survived and t.complete for t in self.report.tcp))


def endpoints(spec: LabSpec, names: Sequence[str] = ()) -> tuple[Endpoint, Endpoint]:
    """The probe's two ends (default: the lab's `probe`). A QEMU guest is the echoing
    end, so the other one must be a namespace."""
    a, b = (spec.host(n) for n in (names or spec.probe))
    if a.guest and b.guest:
        raise LabError(f"{a.name} and {b.name} are both QEMU guests: the probe runs in a "
                       "namespace at one end (a client) and the guest echoes it")
    if a.guest:
        a, b = b, a
    far = (Endpoint(None, b.ip, b.name, echo_port=GUEST_PORT) if b.guest
           else Endpoint(b.ns, b.ip, b.name))
    return Endpoint(a.ns, a.ip, a.name), far


def probe_options(spec: LabSpec) -> ProbeOptions:
    guest = any(h.guest for h in spec.hosts.values())
    options = ProbeOptions(min_interruption_ms=GAP_FLOOR_MS)
    if spec.target == "bmv2":
        # bmv2 forwards a few thousand frames a second on these machines, and drops beyond
        # that with nothing migrating: a lighter probe there (gaps are then seen to 4 ms).
        options = replace(options, udp_rate=BMV2_UDP_RATE, tcp_rate=BMV2_TCP_RATE)
    return replace(options, tcp_rate=min(options.tcp_rate, GUEST_TCP_RATE)) if guest \
        else options


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} ms"


def interruption(report: Report, step: StepResult) -> list[Gap | None]:
    """Per UDP direction, the longest gap around a migration (None: none over the floor)."""
    return [u.longest_gap_between(step.start, step.end) for u in report.udp]


def step_window(mark: Mark, m: Migration) -> tuple[float, float]:
    """Where a migration's gaps are looked for, in the probe's seconds."""
    return mark.at - WINDOW[0], mark.at + m.downtime + WINDOW[1]


def _worst(report: Report, s: StepResult) -> tuple[list[Gap | None], float | None]:
    gaps = interruption(report, s)
    return gaps, max((g.ms for g in gaps if g is not None), default=None)


def _lost_for(report: Report, s: StepResult) -> float | None:
    runs = [u.longest_loss_between(s.start, s.end) for u in report.udp]
    return max((g.ms for g in runs if g is not None), default=None)


def _beyond(worst: float | None, base: float | None) -> str:
    if worst is None or base is None:
        return "-" if base is None else "none"
    return "none" if worst <= base else _ms(worst - base)


def _columns(rows: list[Row]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
           for r in rows]
    out.insert(1, "  ".join("-" * w for w in widths))
    return out


def table(baseline: Report, report: Report, steps: tuple[StepResult, ...]) -> list[str]:
    """The table for a terminal: its rows in columns, the notes under it. Pure."""
    rows, notes = table_rows(baseline, report, steps)
    stages = [f"{s.label}, where the time went: {s.stages.line()}" for s in steps
              if s.stages is not None]
    return _columns(rows) + notes + stages


def table_rows(baseline: Report, report: Report, steps: tuple[StepResult, ...]
               ) -> tuple[list[Row], list[str]]:
    """Per migration: the VM's pause (with QEMU guests also QEMU's downtime), the
    interruption (for how long everything the probe sent around it was lost, the worse
    direction), the network's share (what that exceeds the pause by), and the longest gap
    between arrivals (per direction: a sender held up by the CPU, or datagrams that came
    late, lengthen a gap, not a loss); the head row first; and the notes. Pure."""
    guests = any(s.migration.guest for s in steps)
    head: Row = ("migration", "mode", "VM pause", "interruption", "network's share",
                 "longest gap")
    if guests:
        head = ("migration", "mode", "QEMU downtime", "guest paused", *head[3:])
    rows = [head]
    for s in steps:
        gaps, _ = _worst(report, s)
        m = s.migration
        pause = m.downtime * 1e3
        lost = _lost_for(report, s)
        shown = (" / ".join(_ms(g.ms) if g else f"<{GAP_FLOOR_MS:g} ms" for g in gaps))
        mode = "announced" if m.announced else "reactive"
        tail = (_ms(lost) if lost is not None else "nothing lost", _beyond(lost, pause), shown)
        if guests:
            rows.append((s.label, mode, _ms(m.qemu_downtime_ms), _ms(pause), *tail))
        else:
            rows.append((s.label, mode, _ms(pause), *tail))
    cloud: Row = ("Cloud Rack, VM2 server 2 -> 3 over the WAN", "reactive", "-", CLOUD_RACK,
                  "-", "-")
    if guests:
        cloud = (*cloud[:3], "-", *cloud[3:])
    rows.append(cloud)
    out: list[str] = []
    quiet = ", ".join(f"{u.direction} {u.lost} lost of {u.sent}, longest gap "
                      f"{u.longest_gap_ms:.1f} ms" for u in baseline.udp)
    out.append(f"without migration ({baseline.duration_s:.1f} s): {quiet}")
    for t in report.tcp:
        out.append(f"TCP {t.direction} through every migration: "
                   f"{'survived' if t.survived else 'BROKEN: ' + str(t.error)}, "
                   f"{'complete and in order' if t.complete and t.in_order else 'INCOMPLETE'}"
                   f" ({t.bytes_received:,} bytes; longest stall {t.longest_stall_ms:.1f} ms)")
    rate = max((u.rate for u in report.udp), default=0.0)
    out.append(f"interruption: for how long everything the probe sent (UDP, {rate:g}/s"
               f"{', echoed by the guest' if guests else ' each way'}) was lost, around the "
               "migration; the network's share is what that exceeds the VM's pause by")
    if guests:
        out += ["QEMU's downtime is QEMU's own figure (the source: guest stopped to last "
                "byte sent); the guest's pause runs from QEMU's STOP at the source to its "
                "RESUME at the destination",
                "longest gap: between echoes coming back; beyond the interruption it holds "
                "datagrams that came back late, not lost (under TCG a guest just resumed "
                "runs slowly while its code is translated again)"]
    else:
        out.append("the VM's pause is its own stop (its interface swap); longest gap: "
                   "between arrivals, each way, which a sender the CPU held up lengthens too")
    return rows, out


def migrate_apart(state: LabState, name: str, to: str, *, announce: bool) -> Migration:
    """`ctrl lab migrate` in a process of its own, as an operator's shell would run it:
    the probe's threads here would slow its pause down (one interpreter lock). The lab
    state is read back afterwards (where the VM is, a guest's new QEMU)."""
    argv = [sys.executable, "-m", "ctrl.cli", "lab", "--state-dir", str(state.dir),
            "migrate", name, "--to", to, *([] if announce else ["--unannounced"])]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=MIGRATE_TIMEOUT,
                              check=False)
    except subprocess.TimeoutExpired:
        raise LabError(f"ctrl lab migrate {name} --to {to}: no answer in "
                       f"{MIGRATE_TIMEOUT:.0f} s") from None
    fresh = LabState.load(state.dir)
    if fresh is not None:
        for f in fields(LabState):
            setattr(state, f.name, getattr(fresh, f.name))
    if done.returncode != 0:
        why = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise LabError(f"ctrl lab migrate {name} --to {to}: {why[-1] if why else done.returncode}")
    events = [e for e in state.events() if e.get("event") == "migration"
              and e.get("host") == name]
    if not events:
        raise LabError(f"ctrl lab migrate {name} --to {to} recorded no migration")
    return Migration.from_json(events[-1])


def migrate_under_probe(state: LabState, spec: LabSpec, *, announce: bool, settle: float,
                        say: Callable[[str], None],
                        progress: Callable[[Progress], None] | None = None,
                        ) -> tuple[Report, Report, tuple[StepResult, ...]]:
    """On a lab that is up: a quiet probe, then one through the lab's demo migrations."""
    a, b = endpoints(spec)
    options = probe_options(spec)
    held = moves.hold_placement(state, (step.vm for step in spec.demo))
    if held:
        say(f"the placement engine leaves {', '.join(held)} to these migrations made by hand")
    say(f"probing {a} <-> {b} for {settle:g} s without migration")
    baseline = Probe(a, b, options, progress).run(duration=settle)
    say(f"probing again through {len(spec.demo)} migrations, {settle:g} s apart")
    steps = []
    probe = Probe(a, b, options, progress)
    with probe:
        time.sleep(settle)
        for step in spec.demo:
            m = migrate_apart(state, step.vm, step.to, announce=announce)
            first = probe.mark(f"{step.label}", m.paused)
            qemu = "" if m.qemu_downtime_ms is None else \
                f" (QEMU's downtime {m.qemu_downtime_ms:.0f} ms)"
            say(f"{step.label}: {m.host} {m.src} -> {m.dst}, paused "
                f"{m.downtime * 1e3:.1f} ms{qemu}")
            steps.append(StepResult(step.label, m, *step_window(first, m), first.at))
            time.sleep(settle)
    assert probe.report is not None
    return baseline, probe.report, with_stages(state, spec, probe.report, steps)


def with_stages(state: LabState, spec: LabSpec, report: Report, steps: list[StepResult]
                ) -> tuple[StepResult, ...]:
    """Each migration with where its time went: what the controller says of the move
    (GET /api/v1/moves), and the longest run of loss around it; as it was where the
    controller cannot say (logged)."""
    try:
        records = breakdown.moves(moves.primary_api(state))
    except LabError as exc:
        log.warning("no stages for the migrations: %s", exc)
        return tuple(steps)
    out = []
    for s in steps:
        runs = [g for g in (u.longest_loss_between(s.start, s.end) for u in report.udp)
                if g is not None]
        record = breakdown.find_move(records, spec.host(s.migration.host).mac, s.migration)
        out.append(replace(s, stages=breakdown.breakdown(
            s.migration, record, max(runs, key=lambda g: g.ms, default=None), s.at)))
    return tuple(out)


def new_lab(topology_text: str, origin: str, state_dir: Path, target: str, guests: str,
            dpdk: DpdkConfig | None = None) -> tuple[LabState, LabSpec]:
    """A demo's lab, not made yet: its state on free ports, and its spec (checked);
    `dpdk`: the OVS target on DPDK's datapath, so configured (where it cannot start, the
    plain one, as the lab says)."""
    if LabState.load(state_dir) is not None:
        raise LabError(f"a lab is up already in {state_dir}: `ctrl lab down` first")
    spec = parse_lab(topology_text, origin, target=target,
                     tag=lab_tag(str(state_dir.resolve())), guests=guests,
                     datapath="netdev" if dpdk is None else "dpdk")
    count = len({sw.grpc_addr for sw in spec.switches.values()})
    state = LabState(state_dir, topology_text, origin, target,
                     [free_tcp_port() for _ in range(count)], f"127.0.0.1:{free_tcp_port()}",
                     guests=guests, dpdk=dpdk)
    return state, spec


def run_demo(topology_text: str, origin: str, *, state_dir: Path, out_dir: Path,
             target: str = "ovs", announce: bool = True, settle: float = 2.0,
             guests: str = "netns", accel: str = "auto",
             say: Callable[[str], None] = print,
             progress: Callable[[Progress], None] | None = None,
             dpdk: DpdkConfig | None = None) -> DemoResult:
    """`ctrl lab demo` (see the module's docstring); `dpdk`: as `new_lab` takes it."""
    state, probe_spec = new_lab(topology_text, origin, state_dir, target, guests, dpdk)
    if not probe_spec.demo:
        raise LabError(f"{origin} has no `lab: demo` migrations")
    endpoints(probe_spec)   # a probe that can run, before anything is made
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = build.up(state, say, accel)
    try:
        baseline, report, steps = migrate_under_probe(
            state, spec, announce=announce, settle=settle, say=say, progress=progress)
    finally:
        build.down(state, say)
    lines = table(baseline, report, steps)
    if target == "ovs":
        lines.append(f"switches: the Open vSwitch target on the {state.datapath} datapath"
                     + (", guests on vhost-user ports" if spec.vhost else ""))
    files = (out_dir / "baseline.json", out_dir / "report.json", out_dir / "throughput.png",
             out_dir / "summary.txt", out_dir / "report.html")
    files[0].write_text(baseline.to_json())
    files[1].write_text(report.to_json())
    kind = ", QEMU guests" if guests == "qemu" else ""
    kind += f", {state.datapath} datapath" if target == "ovs" else ""
    title = (f"{spec.name}: throughput during migrations "
             f"({'announced' if announce else 'reactive'}, {target}{kind})")
    shown = [s.step() for s in steps]
    plot = png(report, title, [s.window for s in shown])
    files[2].write_bytes(plot)
    files[3].write_text("\n".join(lines) + "\n")
    result = DemoResult(baseline, report, steps, tuple(lines), files)
    rows, notes = table_rows(baseline, report, steps)
    files[4].write_text(demo_page(title, rows, notes, baseline, report, shown, plot,
                                  result.ok))
    return result
