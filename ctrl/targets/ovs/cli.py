"""`ctrl ovs-target`: serve mobility.p4 over P4Runtime on Open vSwitch bridges."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from ctrl.p4rt import tls
from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.p4rt.schema import P4Schema
from ctrl.targets.ovs import dpdkargs
from ctrl.targets.ovs.errors import OvsError
from ctrl.targets.ovs.vswitch import VSwitchSpec, parse


def _port(text: str) -> tuple[str, int, str]:
    where, sep, ifname = text.partition("=")
    bridge, _, num = where.rpartition(":")
    if not sep or not num.isdigit() or not ifname:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected [BRIDGE:]PORT=INTERFACE, e.g. 1=veth1 or s2:1=veth5")
    return bridge, int(num), ifname


def _cmd(args: argparse.Namespace) -> int:
    # here, not above: every `ctrl` command builds this parser (pyroute2 and the target's
    # modules, ~0.1 s, for `ctrl serve` too)
    from ctrl.targets.ovs.target import BridgeSpec, run_target

    if len(args.bridge) != len(args.device_id):
        raise OvsError("give one --device-id per --bridge")
    ports: dict[str, dict[int, str]] = {b: {} for b in args.bridge}
    for bridge, num, ifname in args.port or []:
        bridge = bridge or args.bridge[0]
        if bridge not in ports:
            raise OvsError(f"--port {bridge}:{num}={ifname}: no --bridge {bridge}")
        if num in ports[bridge]:
            raise OvsError(f"--port {bridge}:{num}: given twice")
        ports[bridge][num] = ifname
    vswitches: dict[str, list[VSwitchSpec]] = {b: [] for b in args.bridge}
    for bridge, vswitch in args.vswitch or []:
        if bridge not in ports:
            raise OvsError(f"--vswitch {vswitch.name}: no --bridge {bridge}")
        if vswitch.port in ports[bridge] or any(v.port == vswitch.port
                                                for v in vswitches[bridge]):
            raise OvsError(f"--vswitch {vswitch.name}: port {bridge}:{vswitch.port} is "
                           "taken already")
        vswitches[bridge].append(vswitch)
    gre = None if args.no_gre else (args.gre_bridge or args.bridge[0])
    if gre is not None and gre not in ports:
        raise OvsError(f"--gre-bridge {gre}: no --bridge {gre}")
    # OVS takes one flow-based GRE port per daemon: one bridge has GRE.
    specs = [BridgeSpec(b, d, ports[b], args.netns, gre=b == gre,
                        vswitches=tuple(vswitches[b]))
             for b, d in zip(args.bridge, args.device_id, strict=True)]
    p4info = Path(args.p4info) if args.p4info else BuildPaths(project_root()).p4info
    files = tls.from_arguments(args)
    credentials = None if files is None else files.server()
    asyncio.run(run_target(Path(args.rundir), specs, P4Schema.load(p4info), args.grpc_addr,
                           credentials, keep=args.leave_running,
                           dpdk=dpdkargs.from_arguments(args)))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ovs-target", help="serve mobility.p4 over P4Runtime on OVS bridges",
                       description="Start ovsdb-server and ovs-vswitchd under --rundir (unless "
                       "running there), create each bridge on the userspace datapath (plain, or "
                       "DPDK's with --datapath dpdk) and serve P4Runtime for it; one device id "
                       "per bridge.")
    p.add_argument("--bridge", action="append", required=True, help="bridge name (repeatable)")
    p.add_argument("--device-id", action="append", type=int, required=True,
                   help="P4Runtime device id of the bridge at the same position")
    p.add_argument("--grpc-addr", default="127.0.0.1:50001", help="default: %(default)s")
    p.add_argument("--port", action="append", type=_port, metavar="[BRIDGE:]PORT=IF",
                   help="attach IF to BRIDGE (default: the first) as P4 port PORT "
                   "(repeatable)")
    p.add_argument("--vswitch", action="append", type=parse,
                   metavar="NAME=BRIDGE:PORT[,IF...]",
                   help="a hypervisor's virtual switch NAME (a learning bridge) patched to "
                   "BRIDGE's P4 port PORT, with interfaces IF of its own; guests' ports "
                   "(vhost-user) are added to it by whoever runs them (repeatable)")
    p.add_argument("--netns", help="run ovs-vswitchd in this network namespace (its ports' "
                   "interfaces are there; so are the underlay addresses GRE puts on the GRE "
                   "bridge's underlay bridge)")
    p.add_argument("--gre-bridge", metavar="BRIDGE",
                   help="the bridge that gets the GRE port and underlay bridge (one per "
                   "ovs-vswitchd; default: the first)")
    p.add_argument("--no-gre", action="store_true", help="no GRE port on any bridge")
    p.add_argument("--rundir", default="/run/mobility-ovs",
                   help="OVS_RUNDIR/DBDIR/LOGDIR of our own daemons (default: %(default)s)")
    p.add_argument("--p4info", help="mobility.p4 P4Info (default: build/mobility.p4info)")
    p.add_argument("--leave-running", action="store_true",
                   help="on SIGINT/SIGTERM leave the daemons, bridges, flows and the saved "
                   "pipeline and entries for the next ovs-target on --rundir, which takes "
                   "them up without losing a packet (by default they are all removed)")
    dpdkargs.add_arguments(p)
    tls.add_arguments(p, "switch agent")
    p.set_defaults(func=_cmd)
