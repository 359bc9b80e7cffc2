"""`ctrl lab demo`: Cloud Rack's experiment, reproduced and measured.

Bring the topology up, probe it quietly (no migration: nothing may be lost),
then probe it again while its `lab: demo` migrations happen one after another
(within a site, then across the WAN in cloud-rack.yaml), mark each, and print a
table of the interruptions next to Cloud Rack's 1-2 s, with the VM's own pause
and what the network added to it. The reports (JSON), the plot (PNG) and the
table land in the output folder; the lab is torn down whatever happens.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ctrl.bmv2 import free_tcp_port
from ctrl.lab import build
from ctrl.lab.migrate import Migration, migrate
from ctrl.lab.plot import save_plot
from ctrl.lab.probe import Endpoint, Probe, ProbeOptions, Progress
from ctrl.lab.report import Gap, Mark, Report
from ctrl.lab.spec import LabError, LabSpec, lab_tag, parse_lab
from ctrl.lab.state import LabState

CLOUD_RACK = "1,000-2,000 ms"   # the paper's interruption per migration (Section IV.B)
GAP_FLOOR_MS = 2.0             # gaps listed from this long: a 1 ms stream shows a 5 ms pause
BMV2_UDP_RATE = 250.0          # datagrams/s each way on bmv2 (1,000 elsewhere)
BMV2_TCP_RATE = 0.1e6          # bytes/s each way on bmv2 (4 MB/s elsewhere)
WINDOW = (0.05, 0.5)           # a migration's gaps: from this long before its pause to after


@dataclass(frozen=True, slots=True)
class StepResult:
    label: str
    migration: Migration
    start: float               # window in the probe's seconds
    end: float


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


def endpoints(spec: LabSpec) -> tuple[Endpoint, Endpoint]:
    a, b = (spec.host(n) for n in spec.probe)
    return Endpoint(a.ns, a.ip, a.name), Endpoint(b.ns, b.ip, b.name)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} ms"


def interruption(report: Report, step: StepResult) -> list[Gap | None]:
    """Per UDP direction, the longest gap around a migration (None: none over the floor)."""
    return [u.longest_gap_between(step.start, step.end) for u in report.udp]


def step_window(mark: Mark, m: Migration) -> tuple[float, float]:
    """Where a migration's gaps are looked for, in the probe's seconds."""
    return mark.at - WINDOW[0], mark.at + m.downtime + WINDOW[1]


def table(baseline: Report, report: Report, steps: tuple[StepResult, ...]) -> list[str]:
    """The interruption of each migration (longest UDP gap around it, per direction), the
    VM's pause, the network's share (what the gap exceeds the pause by). Pure."""
    rows = [("migration", "mode", "VM pause", "interruption", "network's share")]
    for s in steps:
        gaps = interruption(report, s)
        worst = max((g.ms for g in gaps if g is not None), default=None)
        pause = s.migration.downtime * 1e3
        shown = (" / ".join(_ms(g.ms) if g else f"<{GAP_FLOOR_MS:g} ms" for g in gaps))
        share = "none" if worst is None or worst <= pause else _ms(worst - pause)
        rows.append((s.label, "announced" if s.migration.announced else "reactive",
                     _ms(pause), shown, share))
    rows.append(("Cloud Rack, VM2 server 2 -> 3 over the WAN", "reactive", "-", CLOUD_RACK,
                 "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
           for r in rows]
    out.insert(1, "  ".join("-" * w for w in widths))
    quiet = ", ".join(f"{u.direction} {u.lost} lost of {u.sent}, longest gap "
                      f"{u.longest_gap_ms:.1f} ms" for u in baseline.udp)
    out.append(f"without migration ({baseline.duration_s:.1f} s): {quiet}")
    for t in report.tcp:
        out.append(f"TCP {t.direction} through every migration: "
                   f"{'survived' if t.survived else 'BROKEN: ' + str(t.error)}, "
                   f"{'complete and in order' if t.complete and t.in_order else 'INCOMPLETE'}"
                   f" ({t.bytes_received:,} bytes; longest stall {t.longest_stall_ms:.1f} ms)")
    rate = max((u.rate for u in report.udp), default=0.0)
    out.append(f"interruption: longest gap in the UDP stream ({rate:g}/s) around the "
               "migration, each way; the VM pause is the guest's own stop (its interface swap)")
    return out


def run_demo(topology_text: str, origin: str, *, state_dir: Path, out_dir: Path,
             target: str = "ovs", announce: bool = True, settle: float = 2.0,
             say: Callable[[str], None] = print,
             progress: Callable[[Progress], None] | None = None) -> DemoResult:
    if LabState.load(state_dir) is not None:
        raise LabError(f"a lab is up already in {state_dir}: `ctrl lab down` first")
    probe_spec = parse_lab(topology_text, origin, target=target,
                           tag=lab_tag(str(state_dir.resolve())))
    if not probe_spec.demo:
        raise LabError(f"{origin} has no `lab: demo` migrations")
    count = len({sw.grpc_addr for sw in probe_spec.switches.values()})
    state = LabState(state_dir, topology_text, origin, target,
                     [free_tcp_port() for _ in range(count)], f"127.0.0.1:{free_tcp_port()}")
    out_dir.mkdir(parents=True, exist_ok=True)
    # bmv2 forwards a few thousand frames a second on these machines, and drops beyond
    # that with nothing migrating: a lighter probe there (gaps are then seen to 4 ms).
    options = ProbeOptions(min_interruption_ms=GAP_FLOOR_MS)
    if target == "bmv2":
        options = dataclasses.replace(options, udp_rate=BMV2_UDP_RATE, tcp_rate=BMV2_TCP_RATE)
    spec = build.up(state, say)
    try:
        a, b = endpoints(spec)
        say(f"probing {a} <-> {b} for {settle:g} s without migration")
        baseline = Probe(a, b, options, progress).run(duration=settle)
        say(f"probing again through {len(spec.demo)} migrations, {settle:g} s apart")
        steps = []
        probe = Probe(a, b, options, progress)
        with probe:
            time.sleep(settle)
            for step in spec.demo:
                m = migrate(state, step.vm, step.to, announce=announce)
                first = probe.mark(f"{step.label}", m.paused)
                say(f"{step.label}: {m.host} {m.src} -> {m.dst}, paused "
                    f"{m.downtime * 1e3:.1f} ms")
                steps.append(StepResult(step.label, m, *step_window(first, m)))
                time.sleep(settle)
        assert probe.report is not None
        report = probe.report
    finally:
        build.down(state, say)
    result_steps = tuple(steps)
    lines = table(baseline, report, result_steps)
    files = (out_dir / "baseline.json", out_dir / "report.json", out_dir / "throughput.png",
             out_dir / "summary.txt")
    files[0].write_text(baseline.to_json())
    files[1].write_text(report.to_json())
    save_plot(report, files[2], title=f"{spec.name}: throughput during migrations "
              f"({'announced' if announce else 'reactive'}, {target})")
    files[3].write_text("\n".join(lines) + "\n")
    return DemoResult(baseline, report, result_steps, tuple(lines), files)
