"""The placement engine on the command line: `ctrl serve`'s options, and `ctrl placement`.

    ctrl serve ... [--mobility-manager module:Class ...] [--placement-actuator lab:DIR]
    ctrl placement                        per VM: policy, where, traffic, decision, why
    ctrl placement set VM follow-clients threshold=0.3 dwell=5 [--hypervisors h1,h2]
    ctrl placement off VM
"""

from __future__ import annotations

import argparse
import os
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctrl.northbound.client import ClientAuth, call
from ctrl.placement import policy as policies
from ctrl.placement.follow import FollowClients
from ctrl.placement.manager import MobilityManager, PlacementError, load_manager
from ctrl.placement.pack import Pack

if TYPE_CHECKING:   # what `ctrl serve` needs; the other commands start without it
    from ctrl.control.runner import Controller
    from ctrl.northbound.hypervisors import Hypervisors
    from ctrl.placement.actuate import Actuator
    from ctrl.placement.service import PlacementService

DEFAULT_API = "http://127.0.0.1:8080"


def builtin_managers() -> list[MobilityManager]:
    return [FollowClients(), Pack()]


def add_serve_arguments(serve: argparse.ArgumentParser) -> None:
    g = serve.add_argument_group("placement: VMs follow their clients (ctrl/placement/)")
    g.add_argument("--mobility-manager", action="append", default=[], metavar="MODULE:CLASS",
                   help="load a mobility manager besides follow-clients and pack "
                   "(repeatable); VMs name it in their placement policy")
    g.add_argument("--placement-actuator", metavar="KIND", default="auto",
                   help="who carries out the engine's migrations: libvirt (--libvirt), "
                   "lab:STATE_DIR (the lab's guests; `ctrl lab up` gives it), or none "
                   "(decisions are advice only); auto: libvirt when --libvirt is given, "
                   "else none (default: %(default)s)")
    g.add_argument("--placement-interval", type=float, default=1.0, metavar="SECONDS",
                   help="read the switches' counters and decide this often "
                   "(default: %(default)s)")
    g.add_argument("--placement-smoothing", type=float, default=3.0, metavar="SECONDS",
                   help="the traffic a decision weighs is averaged over about this long "
                   "(default: %(default)s)")
    g.add_argument("--placement-max-moves", type=int, default=10, metavar="N",
                   help="migrations the engine starts at most per --placement-per "
                   "(default: %(default)s)")
    g.add_argument("--placement-per", type=float, default=60.0, metavar="SECONDS",
                   help="(default: %(default)s)")
    g.add_argument("--placement-concurrent", type=int, default=2, metavar="N",
                   help="the engine's migrations under way at once, at most "
                   "(default: %(default)s)")
    g.add_argument("--placement-backoff", type=float, default=30.0, metavar="SECONDS",
                   help="leave a hypervisor alone this long after a migration there "
                   "failed, doubled at each failure in a row (default: %(default)s)")
    g.add_argument("--placement-state", type=Path, metavar="FILE",
                   help="keep the policies set through the API in FILE, across restarts "
                   "(default: not kept)")


def _actuator(kind: str, hypervisors: Hypervisors | None) -> Actuator | None:
    from ctrl.placement.actuate import LabActuator, LibvirtActuator

    if kind == "auto":
        kind = "libvirt" if hypervisors is not None else "none"
    if kind == "none":
        return None
    if kind == "libvirt":
        if hypervisors is None:
            raise PlacementError("--placement-actuator libvirt needs --libvirt HYPERVISOR=URI")
        return LibvirtActuator(hypervisors)
    if kind.startswith("lab:") and len(kind) > 4:
        return LabActuator(Path(kind[4:]))
    raise PlacementError(f"--placement-actuator {kind!r}: libvirt, lab:STATE_DIR, none or "
                         "auto")


def check_serve_arguments(args: argparse.Namespace) -> list[MobilityManager]:
    """Everything that can be checked before `ctrl serve` starts: the managers load, the
    numbers make sense."""
    if not args.placement_interval > 0 or not args.placement_smoothing > 0:
        raise PlacementError("--placement-interval and --placement-smoothing: seconds > 0")
    if args.placement_max_moves < 0 or args.placement_concurrent < 1 \
            or not args.placement_per > 0 or args.placement_backoff < 0:
        raise PlacementError("--placement-max-moves >= 0, --placement-concurrent >= 1, "
                             "--placement-per > 0, --placement-backoff >= 0")
    if args.placement_actuator not in ("auto", "none", "libvirt") \
            and not args.placement_actuator.startswith("lab:"):
        _actuator(args.placement_actuator, None)   # says what is wrong
    return [*builtin_managers(), *(load_manager(spec) for spec in args.mobility_manager)]


def build_service(args: argparse.Namespace, controller: Controller,
                  managers: Sequence[MobilityManager]) -> PlacementService:
    """The engine with the topology's policies and the kept ones, before anything starts
    (PlacementError naming the file and line of a policy that cannot be used); its
    actuator comes with `attach_actuator`, once the hypervisors are reached."""
    from ctrl.placement.engine import Limits, PlacementEngine
    from ctrl.placement.service import PlacementService, targets_of

    limits = Limits(args.placement_max_moves, args.placement_per, args.placement_concurrent,
                    args.placement_backoff, max(args.placement_backoff, 600.0))
    engine = PlacementEngine(managers, targets_of(controller), limits, actuate=False)
    service = PlacementService(controller, engine, None, interval=args.placement_interval,
                               smoothing=args.placement_smoothing,
                               store=policies.PolicyStore(args.placement_state))
    service.load(policies.from_topology(controller.topo))
    if args.placement_actuator == "libvirt" and not args.libvirt:
        _actuator("libvirt", None)   # says what is missing, before anything starts
    return service


def attach_actuator(args: argparse.Namespace, service: PlacementService,
                    hypervisors: Hypervisors | None) -> None:
    service.actuator = _actuator(args.placement_actuator, hypervisors)
    service.engine.actuate = service.actuator is not None


# -- ctrl placement -------------------------------------------------------------------

def _call(args: argparse.Namespace, path: str, body: dict[str, object] | None = None,
          method: str | None = None) -> Any:
    return call(args.api, path, body, method, 10.0, ClientAuth.from_env(os.environ))


def _num(x: object) -> str:
    return "-" if x is None else f"{float(str(x)):,.1f}"


def lines(status: dict[str, Any]) -> list[str]:
    """`ctrl placement`'s text: one block per VM."""
    out = [f"actuator: {status['actuator'] or 'none (advice only)'}; managers: "
           f"{', '.join(status['managers'])}; every {status['interval_s']:g} s"
           + (f"; {status['note']}" if status.get("note") else "")]
    for h, b in status.get("backoff", {}).items():
        out.append(f"backing off {h} for {b['until_s']:g} s more: {b['why']}")
    if not status["vms"]:
        out.append("no VM has a placement policy (topology `placement:`, or `ctrl placement "
                   "set VM POLICY`)")
    for vm in status["vms"]:
        params = ", ".join(f"{k}={v:g}" for k, v in vm.items()
                           if isinstance(v, float) and k not in ("here_s",))
        out.append("")
        out.append(f"{vm['vm']}: {vm['policy']}{f' ({params})' if params else ''} from "
                   f"{vm['source']}; at {vm['at'] or '?'} for {_num(vm['here_s'])} s")
        traffic = vm.get("traffic") or {}
        for sw, rate in traffic.get("packets_per_s", {}).items():
            who = ", ".join(traffic.get("clients", {}).get(sw, [])) or "-"
            out.append(f"  traffic  {sw:<12} {rate:>10,.1f} packets/s  ({who})")
        if traffic.get("last_discarded"):
            out.append(f"  (last interval not used: {traffic['last_discarded']})")
        d = vm.get("decision")
        if d is None:
            out.append("  no decision yet")
            continue
        for c in d["candidates"]:
            mark = "<- here" if c["hypervisor"] == vm["at"] else ""
            out.append(f"  cost     {c['hypervisor']:<16} {_num(c['cost']):>12}  {mark}")
        to = f" -> {d['to']}" if d.get("to") else ""
        out.append(f"  decision {d['decision'].upper()}{to}: {d['why']}")
    for r in status.get("recent", [])[-5:]:
        out.append(f"recent: {r['vm']} {r['from']} -> {r['to']}: "
                   f"{'done' if r['ok'] else 'FAILED'} ({r['why']})")
    return out


def _cmd_show(args: argparse.Namespace) -> int:
    status = _call(args, "placement")
    print("\n".join(lines(status)))
    return 0


def _cmd_set(args: argparse.Namespace) -> int:
    hyps = [h for h in (args.hypervisors or "").split(",") if h]
    p = policies.from_words(args.policy, args.params, hyps)
    reply = _call(args, "placement/" + urllib.parse.quote(args.vm, safe=""), p.as_json(),
                  "PUT")
    print(f"{args.vm}: {reply['status']}")
    return 0


def _cmd_off(args: argparse.Namespace) -> int:
    reply = _call(args, "placement/" + urllib.parse.quote(args.vm, safe=""), None, "DELETE")
    print(f"{args.vm}: {reply['status']}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cmd = sub.add_parser("placement", help="the placement engine: policies, decisions and "
                         "why (asks a running `ctrl serve`)",
                         description="Without a subcommand: per VM with a placement policy, "
                         "its traffic (packets/s where it enters the fabric, the clients "
                         "there), every candidate hypervisor's cost, the decision and why.")
    cmd.add_argument("--api", default=DEFAULT_API, help="controller API, given before set "
                     "or off (default: %(default)s)")
    cmd.set_defaults(func=_cmd_show)
    subs = cmd.add_subparsers(dest="placement_command", metavar="{set,off}")
    put = subs.add_parser("set", help="give a VM a placement policy")
    put.add_argument("vm")
    put.add_argument("policy", help="a mobility manager's name: follow-clients, pack, or "
                     "one loaded with --mobility-manager")
    put.add_argument("params", nargs="*", metavar="PARAM=NUMBER",
                     help="threshold, dwell, max_moves, per, and the manager's own")
    put.add_argument("--hypervisors", metavar="H1,H2", help="only these hypervisors")
    put.set_defaults(func=_cmd_set)
    off = subs.add_parser("off", help="take a VM's policy away: it stays where it is")
    off.add_argument("vm")
    off.set_defaults(func=_cmd_off)
