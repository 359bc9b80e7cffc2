"""`ctrl lab ...`: bring a lab up and down, migrate its VMs, probe them, run the demo."""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

# What building the parser needs, and only that: every `ctrl` command (`ctrl serve` too)
# builds the whole parser, so what a command needs to run is imported when it runs
# (the lab's modules, pyroute2, QEMU's: ~0.25 s of CPU, a twentieth of a cold start).
from ctrl.lab.spec import ACCEL_CHOICES, GUESTS, TARGETS, LabError, lab_tag, parse_lab
from ctrl.lab.state import DEFAULT_DIR, LabState
from ctrl.targets.ovs import dpdkargs

if TYPE_CHECKING:
    from ctrl.lab.probe import Progress

SHIPPED = Path(__file__).resolve().parent / "topologies"


def say(line: str) -> None:
    print(f"[lab] {line}", flush=True)


def shipped() -> list[str]:
    return [*sorted(p.stem for p in SHIPPED.glob("*.yaml")), "fat-tree:K"]


def read_topology(name: str) -> tuple[str, str]:
    """(text, origin) of a topology file, a shipped topology's name, or fat-tree:K."""
    from ctrl.lab.fattree import fat_tree_yaml

    if name.startswith("fat-tree:"):
        k = name.partition(":")[2]
        if not k.isdigit():
            raise LabError(f"{name}: give the fat-tree's k, e.g. fat-tree:4")
        return fat_tree_yaml(int(k)), name
    path = Path(name)
    if not path.exists() and (SHIPPED / f"{name}.yaml").exists():
        path = SHIPPED / f"{name}.yaml"
    try:
        return path.read_text(), str(path)
    except OSError as exc:
        raise LabError(f"{name}: cannot read it ({exc.strerror}); shipped topologies: "
                       f"{', '.join(shipped())}") from None


def _state(args: argparse.Namespace) -> LabState:
    state = LabState.load(Path(args.state_dir))
    if state is None:
        raise LabError(f"no lab is up (no state in {args.state_dir})")
    return state


def cmd_up(args: argparse.Namespace) -> int:
    from ctrl.lab import build
    from ctrl.targets.bmv2 import free_tcp_port

    directory = Path(args.state_dir)
    old = LabState.load(directory)
    if old is not None:
        raise LabError(f"a lab ({old.origin}) is up already in {directory}: "
                       "`ctrl lab down` first")
    text, origin = read_topology(args.topology)
    tag = lab_tag(str(directory.resolve()))
    probe = parse_lab(text, origin, target=args.target, tag=tag, guests=args.guests,
                      datapath=args.datapath)  # checks it all first
    count = len({sw.grpc_addr for sw in probe.switches.values()})
    state = LabState(directory, text, origin, args.target,
                     [free_tcp_port() for _ in range(count)], f"127.0.0.1:{free_tcp_port()}",
                     guests=args.guests, controllers=args.controllers,
                     apis=[f"127.0.0.1:{free_tcp_port()}" for _ in range(args.controllers - 1)],
                     dpdk=dpdkargs.from_arguments(args))
    kind = ", its VMs QEMU guests" if args.guests == "qemu" else ""
    kind += " on vhost-user ports" if probe.vhost else ""
    datapath = ", DPDK datapath" if state.dpdk else ""
    say(f"bringing up {probe.name} on the {args.target} target{datapath}{kind} (state in "
        f"{directory})")
    spec = build.up(state, say, args.accel)
    say(f"{spec.name} is up: `ctrl lab status`, `ctrl lab migrate VM --to HYPERVISOR`, "
        f"`ctrl lab probe`, `ctrl lab down`; live view on http://{state.api}/")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from ctrl.lab import build
    from ctrl.lab.leftovers import left_behind

    state = LabState.load(Path(args.state_dir))
    if state is None:
        say(f"no lab is up in {args.state_dir}: nothing to do")
        return 0
    spec, links = state.spec(), list(state.links)
    build.down(state, say)
    left = left_behind(spec, state, links)
    if left:
        say(f"down, but not all of it is gone ({len(left)} left):")
        for thing in left:
            say(f"  {thing}")
        return 1
    say("down: nothing left behind (namespaces, processes, interfaces, journals checked)")
    return 0


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 9:
        raise argparse.ArgumentTypeError(f"{text!r}: give 1 to 9 controllers")
    return int(text)


def _ha_line(api: str) -> str:
    """What a controller of a pair says of itself, as it checked it."""
    from ctrl.northbound.client import ApiError, call

    try:
        ha = call(api, "ha", timeout=2)
    except ApiError as exc:
        return f"not answering ({exc})"
    if not isinstance(ha, dict):
        return f"odd answer {ha!r}"
    role = "PRIMARY" if ha.get("primary") else str(ha.get("role"))
    return f"{role} (term {ha.get('term')}; {ha.get('note')})"


def cmd_status(args: argparse.Namespace) -> int:
    from ctrl.lab import faults, procs
    from ctrl.lab.guests import proc_name

    state = _state(args)
    spec = state.spec()
    guests = f"; QEMU guests ({state.accel or '?'})" if state.guests == "qemu" else ""
    guests += " on vhost-user ports" if spec.vhost else ""
    on = state.target + (f" ({state.datapath} datapath)" if state.target == "ovs" else "")
    print(f"lab {spec.name} ({state.origin}) on {on}{guests}: "
          f"{'up' if state.up else 'NOT up (half made: `ctrl lab down`)'}; "
          f"controller API http://{state.api}/api/v1, live view http://{state.api}/")
    for p in state.processes:
        print(f"  {p.name:<22} pid {p.pid:<8} {'running' if procs.is_running(p) else 'GONE'}"
              f"   log {p.log}")
        if p.name.startswith("ovs-target "):   # its ovs-vswitchd, a component of its own
            daemon = f"{faults.VSWITCHD}:{p.name.split(' ', 1)[1]}"
            pid = faults.vswitchd_pid(state, daemon)
            print(f"    {daemon.replace(':', ' '):<20} " + (f"pid {pid:<8} running" if pid
                                                          else "NOT running"))
    for i, api in enumerate([state.api, *state.apis] if state.controllers > 1 else [], 1):
        print(f"  controller-{i}: {_ha_line(api)}   API http://{api}/api/v1")
    pids = {p.name: p.pid for p in state.processes}
    for name, host in spec.hosts.items():
        at = state.locations.get(name, host.hypervisor)
        where = (f"QEMU guest, pid {pids.get(proc_name(name), '?')}" if host.guest
                 else f"namespace {host.ns}")
        print(f"  {host.role:<6} {name:<14} {host.ip}/{host.prefix:<3} {host.mac}  at {at}"
              f"  ({where})")
    if spec.light:
        moved = sum(1 for n, h in spec.light.items()
                    if state.locations.get(n, h.hypervisor) != h.hypervisor)
        print(f"  {len(spec.light):,} light VMs (a MAC and an address each, no namespace), "
              f"{moved:,} of them moved")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from ctrl.lab.migrate import migrate

    state = _state(args)
    m = migrate(state, args.host, args.to, announce=not args.unannounced, cause=args.cause)
    qemu = "" if m.qemu_downtime_ms is None else \
        f"; QEMU's downtime {m.qemu_downtime_ms:.0f} ms, total {m.qemu_total_ms:.0f} ms"
    say(f"{m.host}: {m.src} -> {m.dst} ({'announced' if m.announced else 'unannounced'}); "
        f"its pause: {m.downtime * 1e3:.1f} ms{qemu}")
    return 0


def _progress(p: Progress) -> None:
    print(f"[probe] {p.line()}", flush=True)


def cmd_probe(args: argparse.Namespace) -> int:
    from ctrl.lab.demo import GAP_FLOOR_MS, StepResult, endpoints, step_window
    from ctrl.lab.htmlreport import probe_page
    from ctrl.lab.moves import Migration
    from ctrl.lab.probe import Probe, ProbeOptions
    from ctrl.lab.report import Mark

    state = _state(args)
    spec = state.spec()
    names = (args.source or spec.probe[0], args.to or spec.probe[1])
    a, b = endpoints(spec, names)
    # Gaps and runs of loss listed from a few ms, as in the demo: the plot and the HTML
    # tell a gap with loss from one without.
    options = ProbeOptions(udp_rate=args.rate, tcp_rate=args.tcp_rate * 1e6,
                           min_interruption_ms=GAP_FLOOR_MS)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    probe = Probe(a, b, options, _progress)
    echo = " (the guest echoes)" if b.echo_port else ""
    say(f"probing {a.label} <-> {b.label}{echo} for {args.duration:g} s (Ctrl-C ends it "
        "early); migrations made meanwhile (`ctrl lab migrate`) are marked")
    seen = len(state.events())
    report = probe.run(duration=args.duration)
    steps = []
    for event in state.events()[seen:]:  # marks cannot be added after stop(): rebuild
        if event.get("event") != "migration":
            continue
        m = Migration.from_json(event)
        mark = Mark(f"{m.host} -> {m.dst}", round(m.paused - probe.origin, 6))
        report.marks.append(mark)
        steps.append(StepResult(mark.name, m, *step_window(mark, m), mark.at).step())
    report.marks.sort(key=lambda m: m.at)
    (out / "probe.json").write_text(report.to_json())
    from ctrl.lab.plot import png  # matplotlib: 1.3 s to import, for every `ctrl`

    title = f"{spec.name}: {a.label} <-> {b.label}"
    plot = png(report, title, [s.window for s in steps])
    (out / "probe.png").write_bytes(plot)
    (out / "probe.html").write_text(probe_page(title, report, steps, plot))
    print(report.summary())
    say(f"wrote {out / 'probe.json'}, {out / 'probe.png'} and {out / 'probe.html'}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ctrl.lab.demo import run_demo

    text, origin = read_topology(args.topology)
    if parse_lab(text, origin).roam is not None:
        return _roam_demo(args, text, origin)
    result = run_demo(text, origin, state_dir=Path(args.state_dir), out_dir=Path(args.out),
                      target=args.target, announce=not args.unannounced, settle=args.settle,
                      guests=args.guests, accel=args.accel, say=say,
                      dpdk=dpdkargs.from_arguments(args),
                      progress=_progress if args.verbose_probe else None)
    print()
    for line in result.table:
        print(line)
    print()
    say("wrote " + ", ".join(str(f) for f in result.files))
    return 0 if result.ok else 1


def cmd_mover(args: argparse.Namespace) -> int:
    from ctrl.lab.mover import serve

    serve(Path(args.state_dir))
    return 0


def _roam_demo(args: argparse.Namespace, text: str, origin: str) -> int:
    """A lab file with `lab: roam`: the players roam, the placement engine follows."""
    from ctrl.lab.roam import Timing, run_roam_demo

    timing = Timing(oscillate_s=30.0) if args.long else Timing()
    result = run_roam_demo(text, origin, state_dir=Path(args.state_dir),
                           out_dir=Path(args.out), target=args.target, guests=args.guests,
                           accel=args.accel, timing=timing, say=say,
                           dpdk=dpdkargs.from_arguments(args))
    print()
    print("\n".join(result.lines))
    print()
    say("wrote " + ", ".join(str(f) for f in result.files))
    return 0 if result.ok else 1


def cmd_fault(args: argparse.Namespace) -> int:
    from ctrl.lab import faults

    state = _state(args)
    daemon = args.component.startswith(f"{faults.VSWITCHD}:")
    if args.action == "kill":
        faults.kill(state, args.component)
        say(f"killed {args.component} (SIGKILL): " + (
            "its flows went with it; its target starts it again and puts them back "
            f"(`ctrl lab fault start {args.component}` waits for that)" if daemon else
            f"`ctrl lab fault start {args.component}` starts it again"))
        return 0
    if args.action == "start":
        faults.start(state, args.component)
        up = time.monotonic()
        done = faults.wait_in_sync(state)
        again = "runs again (its target started it)" if daemon else "started again"
        say(f"{args.component} {again}; every switch in sync {(done - up) * 1e3:,.0f} ms "
            "after it was up")
        return 0
    r = faults.restart(state, args.component, args.down)
    say(f"{args.component}: killed, up again {r.down_s * 1e3:,.0f} ms later; every switch "
        f"in sync {r.recovery_s * 1e3:,.0f} ms after the kill "
        f"({r.sync_after_up_s * 1e3:,.0f} ms after it was up)")
    return 0


def cmd_chaos(args: argparse.Namespace) -> int:
    from ctrl.lab.chaos import run_chaos, table

    state = _state(args)
    say(f"chaos for {args.duration:g} s: each component killed (kill -9) and started again "
        "under the probe, a migration after each (Ctrl-C ends it)")
    steps = run_chaos(state, args.duration, only=args.only, say=say)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "chaos.json").write_text(json.dumps([s.to_json() for s in steps], indent=1))
    lines = table(steps)
    (out / "chaos.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    say(f"wrote {out / 'chaos.json'} and {out / 'chaos.txt'}")
    return 0 if all(s.ok for s in steps) else 1


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a count of moves, or several: "
                                         "10,100,1000") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: at least one move")
    return sizes


def cmd_storm(args: argparse.Namespace) -> int:
    from ctrl.lab.storm import StormOptions, run_sink_storm

    k = args.k if args.k is not None else (16 if args.target == "sink" else 8)
    options = StormOptions(k, args.vms, args.vnets, args.placement, args.moves[0],
                           args.announced, args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.shards != 1 and args.target != "sink":
        raise LabError(f"--shards {args.shards}: on the sink target only (--target sink)")
    if args.target == "ovs":
        from ctrl.lab.labstorm import ProbeSettings, run_lab_storm

        runs = run_lab_storm(options, Path(args.state_dir),
                             ProbeSettings(args.probes, args.probe_rate, args.settle), say,
                             args.moves)
    elif args.shards != 1:
        from ctrl.lab.shardstorm import run_shard_storm

        runs = run_shard_storm(options, args.shards, Path(args.work_dir), say, args.moves)
    else:
        runs = run_sink_storm(options, Path(args.work_dir), say, args.moves)
    reports = []
    with contextlib.closing(runs):   # Ctrl-C between storms: the fabric comes down too
        for report in runs:
            reports.append(report)
            print()
            print("\n".join(report.table()))
            print()
    doc = "[" + ",\n".join(r.to_json() for r in reports) + "]\n"
    (out / "storm.json").write_text(doc)
    say(f"wrote {out / 'storm.json'}")
    return 0 if all(r.converged == r.moves for r in reports) else 1


def cmd_topologies(args: argparse.Namespace) -> int:
    from ctrl.lab.fattree import fat_tree_yaml, scale_hosts, storm_yaml

    if args.fat_tree is not None and args.light:
        hosts = scale_hosts(args.fat_tree, args.vms)
        print(storm_yaml(f"fat-tree-{args.fat_tree}-light", hosts, hosts.probe_pairs(2)),
              end="")
        return 0
    if args.fat_tree is not None:
        print(fat_tree_yaml(args.fat_tree, args.vms), end="")
        return 0
    if args.light:
        raise LabError("--light goes with --fat-tree K")
    for name in shipped():
        print(name)
    return 0


def _guest_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--guests", choices=GUESTS, default="netns",
                     help="what the VMs are: network namespaces, or QEMU guests live-"
                     "migrated for real (clients stay namespaces; default: %(default)s)")
    cmd.add_argument("--accel", choices=ACCEL_CHOICES, default="auto",
                     help="the QEMU guests' accelerator; auto: KVM where a probe guest "
                     "shows that it runs, else TCG (default: %(default)s)")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    lab = sub.add_parser("lab", help="the lab: namespaces, switches and the controller",
                         description="Bring up a topology in network namespaces with its "
                         "switches (Open vSwitch or bmv2) and the controller; migrate VMs "
                         "under a probe; tear it all down.")
    lab.add_argument("--state-dir", default=str(DEFAULT_DIR),
                     help="where the lab keeps its state and logs (default: %(default)s)")
    cmds = lab.add_subparsers(dest="lab_command", metavar="LAB_COMMAND", required=True)
    up = cmds.add_parser("up", help="bring a topology up",
                         description="Make the namespaces, veths and bridges of TOPOLOGY, "
                         "start its switches and the controller, and wait until every "
                         "switch is in sync. On failure or Ctrl-C, everything made is undone.")
    up.add_argument("topology", help=f"a YAML file or a shipped one ({', '.join(shipped())})")
    up.add_argument("--target", choices=TARGETS, default="ovs",
                    help="the switches: Open vSwitch (userspace datapath) or bmv2 "
                    "(default: %(default)s)")
    up.add_argument("--controllers", type=_count, default=1, metavar="N",
                    help="N controllers through an etcd of the lab's own, one primary "
                    "(default: %(default)s, alone, without etcd)")
    _guest_options(up)
    dpdkargs.add_arguments(up)
    up.set_defaults(func=cmd_up)
    down = cmds.add_parser("down", help="tear the lab down (safe to repeat)")
    down.set_defaults(func=cmd_down)
    status = cmds.add_parser("status", help="what the lab runs and where its hosts are")
    status.set_defaults(func=cmd_status)
    mig = cmds.add_parser("migrate", help="move a VM or client to another hypervisor",
                          description="Move HOST to HYPERVISOR keeping its MAC, address and "
                          "connections; it announces itself with RARP as QEMU does (a QEMU "
                          "guest is live-migrated, and QEMU announces it). By default the "
                          "controller is told first (announced migration).")
    mig.add_argument("host", help="VM or client name")
    mig.add_argument("--to", required=True, metavar="HYPERVISOR")
    mig.add_argument("--unannounced", action="store_true",
                     help="do not tell the controller: it reacts to the RARP alone")
    mig.add_argument("--cause", default="operator",
                     help="who asks, told to the controller with the announcement and kept "
                     "in the lab's events (the placement engine's moves say placement; "
                     "default: %(default)s)")
    mig.set_defaults(func=cmd_migrate)
    mover = cmds.add_parser("mover", help="(the controller's) migrations asked on stdin",
                            description="The lab's migrations asked on stdin, a "
                            "JSON line each, answered on stdout: what the controller's "
                            "placement engine runs (ctrl/lab/mover.py)")
    mover.set_defaults(func=cmd_mover)
    probe = cmds.add_parser("probe", help="UDP and TCP both ways between two hosts; a "
                            "report and a plot", description="A constant-rate, sequence-"
                            "numbered UDP stream and a TCP flow, both ways, for DURATION "
                            "seconds; the longest gap, loss, reordering and duplicates, a "
                            "JSON report, a PNG of throughput over time with every "
                            "migration made meanwhile marked, and both in one HTML page "
                            "(probe.html).")
    probe.add_argument("--from", dest="source", metavar="HOST",
                       help="one end (default: the lab's probe.from)")
    probe.add_argument("--to", metavar="HOST", help="the other (default: the lab's probe.to)")
    probe.add_argument("--duration", type=float, default=10.0, help="seconds (default 10)")
    probe.add_argument("--rate", type=float, default=1000.0,
                       help="UDP datagrams per second each way (default 1000)")
    probe.add_argument("--tcp-rate", type=float, default=4.0,
                       help="TCP MB/s each way, 0 for none (default 4)")
    probe.add_argument("--out", default=".", help="where the report and plot go (default .)")
    probe.set_defaults(func=cmd_probe)
    demo = cmds.add_parser("demo", help="Cloud Rack's experiment: migrations under the probe;"
                           " stanford: the players roam and the placement engine follows",
                           description="Bring TOPOLOGY up, probe it without migration, then "
                           "through its `lab: demo` migrations (cloud-rack: within a campus, "
                           "then across the WAN); print the interruptions next to Cloud "
                           "Rack's 1-2 s; write the reports, the plot and report.html (all "
                           "of it in one page); tear it all down. "
                           "Exit 1 if anything was lost without migration or TCP broke. "
                           "A topology with `lab: roam` (stanford) runs the placement demo "
                           "instead (ctrl/lab/roam.py): exit 1 if a goal was not met.")
    demo.add_argument("topology", nargs="?", default="cloud-rack",
                      help="default: %(default)s")
    demo.add_argument("--target", choices=TARGETS, default="ovs", help="default: %(default)s")
    _guest_options(demo)
    dpdkargs.add_arguments(demo)
    demo.add_argument("--unannounced", action="store_true",
                      help="migrate without telling the controller (it reacts to the RARP)")
    demo.add_argument("--settle", type=float, default=2.0,
                      help="seconds of probing before, between and after migrations")
    demo.add_argument("--out", default="lab-demo", help="output folder (default %(default)s)")
    demo.add_argument("--verbose-probe", action="store_true", help="probe progress each second")
    demo.add_argument("--long", action="store_true",
                      help="a lab with `lab: roam` (stanford): oscillation phases of 30 s "
                      "each, not 12")
    demo.set_defaults(func=cmd_demo)
    fault = cmds.add_parser("fault", help="kill a component of the lab, or start it again",
                            description="COMPONENT is a process of the lab as `ctrl lab "
                            "status` lists it, a colon for the space: controller (controller-N "
                            "of a pair), ovs-target:SITE, bmv2:SWITCH; or vswitchd:SITE, a "
                            "site's ovs-vswitchd. kill: SIGKILL, as a crash (a target's OVS "
                            "daemons forward on; a killed ovs-vswitchd takes its flows, and "
                            "its target starts it again and puts them back); start: its "
                            "command line again (vswitchd: wait for its target to start it); "
                            "restart: both, then wait until every switch is in sync and say "
                            "how long it took.")
    fault.add_argument("action", choices=("kill", "start", "restart"))
    fault.add_argument("component")
    fault.add_argument("--down", type=float, default=0.5,
                       help="restart: seconds between the kill and the start (default 0.5; "
                       "not for vswitchd, which its target starts at once)")
    fault.set_defaults(func=cmd_fault)
    chaos = cmds.add_parser("chaos", help="every component killed and restarted in turn "
                            "under the probe, with migrations in between",
                            description="Rounds of faults until DURATION seconds have passed "
                            "(at least one round): each component killed (kill -9) and "
                            "started again while the probe runs, then one of the lab's demo "
                            "migrations. A table per step: time down, time until every "
                            "switch is in sync, datagrams lost, TCP's fate. Exit 1 if a fault "
                            "lost a datagram or TCP broke.")
    chaos.add_argument("--duration", type=float, default=30.0,
                       help="seconds (default %(default)s)")
    chaos.add_argument("--only", action="append", default=[], metavar="COMPONENT",
                       help="only this component (repeatable)")
    chaos.add_argument("--out", default="lab-chaos", help="output folder (default %(default)s)")
    chaos.set_defaults(func=cmd_chaos)
    storm = cmds.add_parser("storm", help="many VMs migrating at once: convergence, writes "
                            "per switch, loss under the probe",
                            description="Bring up a k-ary fat-tree with VMS VMs, "
                            "migrate MOVES of them at once (a share announced through the "
                            "API first, then every RARP at its destination), and report the "
                            "time from the first announcement to the last write acknowledged, "
                            "each move's convergence (the controller's record), and the "
                            "writes per switch (JSON and a table). --target ovs: the lab's "
                            "own Open vSwitch bridges (default k=8), every VM light (a MAC "
                            "and an address, its RARP sent from its hypervisor's uplink) but "
                            "the probed pairs' namespaces, one VM of each pair moving too; "
                            "datagrams lost under the probe reported; the lab taken down at "
                            "the end (--state-dir). --target sink: the controller against "
                            "`ctrl sink-target` (P4Runtime, no data plane; default k=16), for "
                            "fabrics the lab cannot hold. Exit 1 if a move did not converge.")
    storm.add_argument("--target", choices=("sink", "ovs"), default="sink",
                       help="the switches (default: %(default)s)")
    storm.add_argument("--k", type=int, default=None,
                       help="fat-tree k (default 16 on the sink, 8 on ovs)")
    storm.add_argument("--vms", type=int, default=1000, help="default %(default)s")
    storm.add_argument("--vnets", type=int, default=1,
                       help="virtual networks, each owning a share of the hypervisors "
                       "(default %(default)s)")
    storm.add_argument("--placement", choices=("spread", "pod"), default="spread",
                       help="a network's hypervisors anywhere, or in one pod")
    storm.add_argument("--moves", type=_sizes, default=(1000,), metavar="M[,M...]",
                       help="moves at once; several: one storm each, in turn (default 1000)")
    storm.add_argument("--announced", type=float, default=0.5,
                       help="the share of the moves announced first (default %(default)s)")
    storm.add_argument("--seed", type=int, default=1, help="default %(default)s")
    storm.add_argument("--shards", type=int, default=1, metavar="N",
                       help="sink: N sites, each a k-ary fat-tree with a controller and a "
                       "sink of its own, the VMs and moves dealt over them, every move "
                       "within its site, the storms started together (default %(default)s)")
    storm.add_argument("--probes", type=int, default=2, metavar="PAIRS",
                       help="ovs: probed pairs of namespace VMs (default %(default)s)")
    storm.add_argument("--probe-rate", type=float, default=200.0,
                       help="ovs: UDP datagrams/s each way per pair (default %(default)s)")
    storm.add_argument("--settle", type=float, default=1.0,
                       help="ovs: seconds probed before and after each storm "
                       "(default %(default)s)")
    storm.add_argument("--work-dir", default="/tmp/vm-mobility-storm",
                       help="sink: topology, logs, sockets (default %(default)s)")
    storm.add_argument("--out", default="lab-storm", help="output folder (default %(default)s)")
    storm.set_defaults(func=cmd_storm)
    topo = cmds.add_parser("topologies", help="list the shipped topologies, or print a "
                           "generated fat-tree")
    topo.add_argument("--fat-tree", type=int, metavar="K", help="print a k-ary fat-tree")
    topo.add_argument("--vms", type=int, default=2, help="VMs in the fat-tree (default 2)")
    topo.add_argument("--light", action="store_true",
                      help="every VM light (a MAC and an address, no namespace) but two "
                      "probed pairs, as `lab storm --target ovs` makes it: for `lab up`")
    topo.set_defaults(func=cmd_topologies)
