"""The `ctrl` command line. The only place that exits the process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ctrl import __version__
from ctrl.errors import MobilityError, P4BuildError
from ctrl.northbound.auth import ApiAuth, AuthError, check_listen, read_token, server_context
from ctrl.p4rt import tls
from ctrl.p4rt.build import BuildPaths, compile_p4, project_root, recorded_digest, sources_digest
from ctrl.p4rt.schema import P4Schema
from ctrl.placement.cli import add_serve_arguments as add_placement_serve

if TYPE_CHECKING:
    from ctrl.ha.election import Elector


def _cmd_build(args: argparse.Namespace) -> int:
    root = project_root(Path(args.root) if args.root else None)
    if args.check:
        paths = BuildPaths(root)
        want, have = sources_digest(root), recorded_digest(paths)
        if want != have:
            print(f"build/ is stale: sources {want[:12]}, build/ made from "
                  f"{(have or 'nothing')[:12]}; run `ctrl build` where p4c is installed")
            return 1
        print(f"build/ matches the P4 sources ({want[:12]})")
        return 0
    paths = compile_p4(root)
    print(f"wrote {paths.json.relative_to(root)} and {paths.p4info.relative_to(root)}")
    return 0


def _cmd_p4info(args: argparse.Namespace) -> int:
    schema = P4Schema.load(args.p4info)
    for table in sorted(schema.tables, key=lambda t: t.name):
        keys = ", ".join(f"{f.name}:{f.bitwidth}" for f in table.match_fields)
        actions = ", ".join(
            f"{r.action.alias}({', '.join(f'{p.name}:{p.bitwidth}' for p in r.action.params)})"
            for r in table.action_refs
        )
        print(f"{table.name} [{table.size}] ({keys}) -> {actions}")
    for meta in schema.packet_metadata:
        fields = ", ".join(f"{f.name}:{f.bitwidth}" for f in meta.fields)
        print(f"@{meta.name} ({fields})")
    return 0


def _election_id(text: str) -> tuple[int, int]:
    high, _, low = text.rpartition(",")
    try:
        return (int(high or 0), int(low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"election id {text!r} is not HIGH,LOW or LOW") from None


def _elector(args: argparse.Namespace) -> Elector | None:
    """`--etcd`: this controller campaigns; its --election-id is its standby's (0, LOW)."""
    if not args.etcd:
        return None
    from ctrl.ha.election import Elector
    from ctrl.ha.etcd import EtcdClient

    if args.election_id[0] != 0 or args.election_id[1] <= 0:
        raise MobilityError("with --etcd, --election-id is this controller's standby id: "
                            "LOW alone (0,LOW), unique among the controllers")
    name = args.ha_name or f"{socket.gethostname()}-{os.getpid()}"
    return Elector(EtcdClient(args.etcd, timeout=max(0.2, args.lease_ttl / 3)), name,
                   args.election_id, ttl=args.lease_ttl)


def _cmd_serve(args: argparse.Namespace) -> int:
    from ctrl.control.runner import Controller
    from ctrl.control.topology import load_topology
    from ctrl.northbound.hypervisors import Hypervisors, parse_uris
    from ctrl.placement.cli import attach_actuator, build_service, check_serve_arguments

    if not args.traffic_interval >= 0:
        raise MobilityError(f"--traffic-interval {args.traffic_interval:g}: give seconds, "
                            "or 0 for never")
    schema = P4Schema.load(args.p4info)
    topology = load_topology(args.topology)
    managers = check_serve_arguments(args)
    libvirt = parse_uris(args.libvirt, topology.hypervisors, "--libvirt")
    migrate_uris = parse_uris(args.libvirt_migrate_uri, topology.hypervisors,
                              "--libvirt-migrate-uri")
    if libvirt:
        from ctrl.vm.libvirt_events import load_libvirt

        load_libvirt()   # or a clear error saying what to install, before anything starts
    try:
        config = Path(args.bmv2_json).read_bytes()
    except OSError as exc:
        raise P4BuildError(f"cannot read {args.bmv2_json}: {exc.strerror}") from exc
    files = tls.from_arguments(args)
    elector = _elector(args)
    controller = Controller(topology, schema, config, election_id=args.election_id,
                            tunnels_on_demand=args.tunnels == "on-demand",
                            tunnel_idle=args.tunnel_idle, lldp_interval=args.lldp_interval,
                            credentials=None if files is None else files.client(),
                            may_write=None if elector is None else elector.may_write,
                            on_denied=None if elector is None else elector.fenced)
    placement = build_service(args, controller, managers)

    host, _, port = args.api.rpartition(":")
    if (args.api_cert is None) != (args.api_key is None):
        raise AuthError("give --api-cert and --api-key together")
    if args.api_cacert is not None and args.api_cert is None:
        raise AuthError("--api-cacert (client certificates) needs --api-cert and --api-key")
    auth = ApiAuth(read_token(args.api_token_file) if args.api_token_file else None,
                   client_certs=args.api_cacert is not None)
    check_listen(host, auth)
    context = (server_context(args.api_cert, args.api_key, args.api_cacert)
               if args.api_cert is not None else None)
    scheme = "https" if context is not None else "http"

    async def serve() -> None:
        from aiohttp import web

        from ctrl.northbound.api import make_app

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with contextlib.AsyncExitStack() as stack:
            hypervisors = None
            if libvirt:
                hypervisors = await stack.enter_async_context(
                    Hypervisors(controller, libvirt, migrate_uris))
            app = make_app(controller, hypervisors, auth, args.traffic_interval)
            attach_actuator(args, placement, hypervisors)
            from ctrl.placement.api import install as install_placement

            install_placement(app, placement)
            task = asyncio.create_task(placement.run(stop), name="placement")
            stack.push_async_callback(asyncio.wait_for, task, 10.0)
            if elector is not None:
                from ctrl.ha import failover, northbound
                from ctrl.ha.shared import SharedState

                shared = SharedState(controller, elector)
                failover.attach(controller, elector, shared)
                northbound.install(app, controller, elector)
                stack.push_async_callback(elector.etcd.close)
                for coro, what in ((elector.run(stop), "election"),
                                   (shared.run(stop), "shared-state")):
                    task = asyncio.create_task(coro, name=what)
                    stack.push_async_callback(asyncio.wait_for, task, 5.0)
            runner = web.AppRunner(app)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            try:
                await web.TCPSite(runner, host or "127.0.0.1", int(port),
                                  ssl_context=context).start()
            except OSError as exc:
                raise MobilityError(f"cannot serve the API on {args.api}: {exc.strerror}"
                                    ) from exc
            through = f"; hypervisors through libvirt: {', '.join(libvirt)}" if libvirt else ""
            print(f"serving {len(topology.switches)} switches, {len(topology.vms)} declared "
                  f"VMs; API on {scheme}://{args.api}/api/v1, web view on "
                  f"{scheme}://{args.api}/{through}"
                  f"{'; writes need a token or certificate' if auth.guarded else ''}"
                  "; Ctrl-C to stop", flush=True)
            await controller.run(stop)

    asyncio.run(serve())
    m = controller.metrics
    print(f"stopped: {m.learned} hosts learned, {m.moves} moves, "
          f"{m.proxy_arp_replies} ARP requests answered")
    return 0


DEFAULT_API = "http://127.0.0.1:8080"
LIBVIRT_TIMEOUT = 300.0   # seconds a migration libvirt performs may take, answer included


def _call(api: str, path: str, body: Mapping[str, object] | None = None,
          method: str | None = None, timeout: float = 10.0) -> object:
    from ctrl.northbound.client import ClientAuth, call

    return call(api, path, body, method, timeout, ClientAuth.from_env(os.environ))


def _cmd_show(args: argparse.Namespace) -> int:
    rows = _call(args.api, args.what)
    assert isinstance(rows, list)
    if not rows:
        print(f"no {args.what}")
        return 0
    keys = list(rows[0])
    widths = [max(len(k), *(len(str(r[k])) for r in rows)) for k in keys]
    print("  ".join(k.upper().ljust(w) for k, w in zip(keys, widths, strict=True)))
    for r in rows:
        print("  ".join(str(r[k]).ljust(w) for k, w in zip(keys, widths, strict=True)))
    return 0


def _cmd_path(args: argparse.Namespace) -> int:
    query = urllib.parse.urlencode({"src": args.src, "dst": args.dst})
    reply = _call(args.api, f"path?{query}")
    assert isinstance(reply, dict)
    print(" -> ".join(reply["hops"]))
    return 0


def _cmd_migrate(args: argparse.Namespace) -> int:
    if args.cancel:
        reply = _call(args.api, "migrate/" + urllib.parse.quote(args.vm, safe=""),
                      method="DELETE")
        assert isinstance(reply, dict)
        print(f"{args.vm} ({reply['mac']}) at {reply['at']}: {reply['status']}")
        return 0
    if args.libvirt:
        reply = _call(args.api, "migrate", {"vm": args.vm, "to": args.to, "libvirt": True},
                      timeout=LIBVIRT_TIMEOUT)
        assert isinstance(reply, dict)
        print(f"{args.vm} ({reply['mac']}, domain {reply['domain']}): {reply['from']} -> "
              f"{reply['to']}: {reply['status']}; libvirt's downtime {reply['downtime_ms']} "
              f"ms, total {reply['total_ms']} ms")
        return 0
    reply = _call(args.api, "migrate", {"vm": args.vm, "to": args.to})
    assert isinstance(reply, dict)
    print(f"{args.vm} ({reply['mac']}): {reply['from']} -> {reply['to']}: {reply['status']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ctrl",
        description="Live VM mobility over a P4 / Open vSwitch fabric: the controller.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    build = sub.add_parser("build", help="compile dataplane/p4/mobility.p4 into build/ with p4c",
                           description="Compile mobility.p4 with p4c-bm2-ss into "
                           "build/mobility.json and build/mobility.p4info (text), and record "
                           "the hash of the sources they were made from.")
    build.add_argument("--check", action="store_true",
                       help="only say whether build/ matches the sources (exit 1 if not)")
    build.add_argument("--root", help="the project folder (default: found from here)")
    build.set_defaults(func=_cmd_build)

    p4info = sub.add_parser("p4info", help="list the tables, actions and packet metadata "
                            "of a P4Info")
    p4info.add_argument("p4info", nargs="?", default="build/mobility.p4info",
                        help="P4Info in text format (default: %(default)s)")
    p4info.set_defaults(func=_cmd_p4info)

    serve = sub.add_parser("serve", help="run the controller for a topology",
                           description="Connect to every switch of the topology over P4Runtime, "
                           "become primary, push the pipeline where needed, and keep every VM "
                           "reachable on the shortest path through migrations.")
    serve.add_argument("--p4info", default="build/mobility.p4info",
                       help="P4Info in text format (default: %(default)s)")
    serve.add_argument("--bmv2-json", default="build/mobility.json",
                       help="the target's device config pushed with the pipeline "
                       "(default: %(default)s)")
    serve.add_argument("--topology", required=True, help="topology YAML file")
    serve.add_argument("--election-id", type=_election_id, default=(0, 1),
                       help="P4Runtime election id as HIGH,LOW or LOW (default: 0,1)")
    serve.add_argument("--tunnels", choices=("on-demand", "static"), default="on-demand",
                       help="GRE tunnels between sites: brought up when traffic needs them "
                       "and released when idle, or always up (default: %(default)s)")
    serve.add_argument("--tunnel-idle", type=float, default=300.0, metavar="SECONDS",
                       help="release a tunnel that carried nothing for this long "
                       "(default: %(default)s)")
    serve.add_argument("--lldp-interval", type=float, default=0.5, metavar="SECONDS",
                       help="LLDP out of every fabric port this often, at least (longer on "
                       "fabrics with more than 250 fabric ports: 500 frames a second at "
                       "most); a link silent for three intervals is down; 0: no LLDP "
                       "(default: %(default)s)")
    serve.add_argument("--api", default="127.0.0.1:8080",
                       help="address of the REST API and /metrics (default: %(default)s)")
    serve.add_argument("--traffic-interval", type=float, default=2.0, metavar="SECONDS",
                       help="while a web view is open (http://API/), read each switch's "
                       "port counters this often to show traffic; 0: never (default "
                       "%(default)s)")
    serve.add_argument("--libvirt", action="append", default=[], metavar="HYPERVISOR=URI",
                       help="reach a hypervisor of the topology through libvirt at URI "
                       "(e.g. qemu+ssh://hv1/system): a domain arriving there by migration is "
                       "an announced migration, one that fails is cancelled; `ctrl migrate "
                       "--libvirt` has libvirt migrate (repeatable)")
    serve.add_argument("--libvirt-migrate-uri", action="append", default=[],
                       metavar="HYPERVISOR=URI",
                       help="where libvirt sends a migration's data to that hypervisor (its "
                       "VIR_MIGRATE_PARAM_URI, e.g. tcp://10.0.0.2 or unix:///path); libvirt "
                       "chooses where not given (repeatable)")
    ha = serve.add_argument_group("two or more controllers (etcd)")
    ha.add_argument("--etcd", action="append", default=[], metavar="URL",
                    help="campaign for leadership through etcd at URL (repeatable for a "
                    "cluster); without it, this controller is the only one")
    ha.add_argument("--ha-name", metavar="NAME",
                    help="this controller's name in the election (default: host-pid)")
    ha.add_argument("--lease-ttl", type=int, default=1, metavar="SECONDS",
                    help="the leader's etcd lease (default: %(default)s)")
    tls.add_arguments(serve, "controller")
    add_placement_serve(serve)
    api_security = serve.add_argument_group("REST API security")
    api_security.add_argument("--api-token-file", type=Path, metavar="FILE",
                              help="writes need 'Authorization: Bearer TOKEN', the token "
                              "being this file's contents (16 characters or more)")
    api_security.add_argument("--api-cert", type=Path, metavar="PEM", help="serve HTTPS with "
                              "this certificate")
    api_security.add_argument("--api-key", type=Path, metavar="PEM",
                              help="its private key")
    api_security.add_argument("--api-cacert", type=Path, metavar="PEM",
                              help="writes are allowed to clients showing a certificate "
                              "this CA signed")
    serve.set_defaults(func=_cmd_serve)

    for name, helptext in (("hosts", "where every VM is"), ("switches", "the switches"),
                           ("tunnels", "GRE tunnels between sites")):
        cmd = sub.add_parser(name, help=f"{helptext} (asks a running `ctrl serve`)")
        cmd.add_argument("--api", default=DEFAULT_API, help="controller API (default: %(default)s)")
        cmd.set_defaults(func=_cmd_show, what=name)
    path = sub.add_parser("path", help="the fewest-links path between two switches")
    path.add_argument("src")
    path.add_argument("dst")
    path.add_argument("--api", default=DEFAULT_API, help="controller API (default: %(default)s)")
    path.set_defaults(func=_cmd_path)
    mig = sub.add_parser("migrate", help="announce a VM's migration to a hypervisor",
                         description="Pre-provision the new location and deliver the VM's "
                         "frames at both locations until its RARP there: the switch-over "
                         "needs no reaction time and loses nothing in the network.")
    mig.add_argument("vm", help="VM name from the topology, or its MAC")
    where = mig.add_mutually_exclusive_group(required=True)
    where.add_argument("--to", metavar="HYPERVISOR", help="where the VM is going")
    where.add_argument("--cancel", action="store_true",
                       help="the migration will not happen: the VM stays where it is")
    mig.add_argument("--libvirt", action="store_true",
                     help="and have libvirt live-migrate it there, the network readied first "
                     "(the controller reaches the hypervisors with `ctrl serve --libvirt`)")
    mig.add_argument("--api", default=DEFAULT_API, help="controller API (default: %(default)s)")
    mig.set_defaults(func=_cmd_migrate)

    from ctrl.lab.cli import add_parser as add_lab
    from ctrl.placement.cli import add_parser as add_placement
    from ctrl.targets.ovs.cli import add_parser as add_ovs_target
    from ctrl.targets.sink.cli import add_parser as add_sink_target

    add_ovs_target(sub)
    add_sink_target(sub)
    add_lab(sub)
    add_placement(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.func(args)
    except MobilityError as exc:
        print(f"ctrl: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ctrl: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
