"""`ctrl lab ...`: bring a lab up and down, migrate its VMs, probe them, run the demo."""

from __future__ import annotations

import argparse
from pathlib import Path

from ctrl.bmv2 import free_tcp_port
from ctrl.lab import build, procs
from ctrl.lab.fattree import fat_tree_yaml
from ctrl.lab.spec import TARGETS, LabError, lab_tag, parse_lab
from ctrl.lab.state import DEFAULT_DIR, LabState

SHIPPED = Path(__file__).resolve().parent / "topologies"


def say(line: str) -> None:
    print(f"[lab] {line}", flush=True)


def shipped() -> list[str]:
    return [*sorted(p.stem for p in SHIPPED.glob("*.yaml")), "fat-tree:K"]


def read_topology(name: str) -> tuple[str, str]:
    """(text, origin) of a topology file, a shipped topology's name, or fat-tree:K."""
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
    directory = Path(args.state_dir)
    old = LabState.load(directory)
    if old is not None:
        raise LabError(f"a lab ({old.origin}) is up already in {directory}: "
                       "`ctrl lab down` first")
    text, origin = read_topology(args.topology)
    tag = lab_tag(str(directory.resolve()))
    probe = parse_lab(text, origin, target=args.target, tag=tag)  # checks it all first
    count = len({sw.grpc_addr for sw in probe.switches.values()})
    state = LabState(directory, text, origin, args.target,
                     [free_tcp_port() for _ in range(count)], f"127.0.0.1:{free_tcp_port()}")
    say(f"bringing up {probe.name} on the {args.target} target (state in {directory})")
    spec = build.up(state, say)
    say(f"{spec.name} is up: `ctrl lab status`, `ctrl lab migrate VM --to HYPERVISOR`, "
        "`ctrl lab probe`, `ctrl lab down`")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    state = LabState.load(Path(args.state_dir))
    if state is None:
        say(f"no lab is up in {args.state_dir}: nothing to do")
        return 0
    build.down(state, say)
    say("down")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    state = _state(args)
    spec = state.spec()
    print(f"lab {spec.name} ({state.origin}) on {state.target}: "
          f"{'up' if state.up else 'NOT up (half made: `ctrl lab down`)'}; "
          f"controller API http://{state.api}/api/v1")
    for p in state.processes:
        print(f"  {p.name:<22} pid {p.pid:<8} {'running' if procs.is_running(p) else 'GONE'}"
              f"   log {p.log}")
    for name, host in spec.hosts.items():
        at = state.locations.get(name, host.hypervisor)
        print(f"  {host.role:<6} {name:<14} {host.ip}/{host.prefix:<3} {host.mac}  at {at}"
              f"  (namespace {host.ns})")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from ctrl.lab.migrate import migrate

    state = _state(args)
    m = migrate(state, args.host, args.to, announce=not args.unannounced)
    say(f"{m.host}: {m.src} -> {m.dst} ({'announced' if m.announced else 'unannounced'}); "
        f"its pause: {m.downtime * 1e3:.1f} ms")
    return 0


def cmd_topologies(args: argparse.Namespace) -> int:
    if args.fat_tree is not None:
        print(fat_tree_yaml(args.fat_tree, args.vms), end="")
        return 0
    for name in shipped():
        print(name)
    return 0


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
    up.set_defaults(func=cmd_up)
    down = cmds.add_parser("down", help="tear the lab down (safe to repeat)")
    down.set_defaults(func=cmd_down)
    status = cmds.add_parser("status", help="what the lab runs and where its hosts are")
    status.set_defaults(func=cmd_status)
    mig = cmds.add_parser("migrate", help="move a VM or client to another hypervisor",
                          description="Move HOST to HYPERVISOR keeping its MAC, address and "
                          "connections; it announces itself with RARP as QEMU does. By "
                          "default the controller is told first (announced migration).")
    mig.add_argument("host", help="VM or client name")
    mig.add_argument("--to", required=True, metavar="HYPERVISOR")
    mig.add_argument("--unannounced", action="store_true",
                     help="do not tell the controller: it reacts to the RARP alone")
    mig.set_defaults(func=cmd_migrate)
    topo = cmds.add_parser("topologies", help="list the shipped topologies, or print a "
                           "generated fat-tree")
    topo.add_argument("--fat-tree", type=int, metavar="K", help="print a k-ary fat-tree")
    topo.add_argument("--vms", type=int, default=2, help="VMs in the fat-tree (default 2)")
    topo.set_defaults(func=cmd_topologies)
