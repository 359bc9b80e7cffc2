"""The `ctrl` command line. The only place that exits the process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from ctrl import __version__
from ctrl.errors import MobilityError, P4BuildError
from ctrl.p4build import BuildPaths, compile_p4, project_root, recorded_digest, sources_digest
from ctrl.p4schema import P4Schema


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


def _cmd_serve(args: argparse.Namespace) -> int:
    from ctrl.controller import Controller
    from ctrl.topology import load_topology

    schema = P4Schema.load(args.p4info)
    topology = load_topology(args.topology)
    try:
        config = Path(args.bmv2_json).read_bytes()
    except OSError as exc:
        raise P4BuildError(f"cannot read {args.bmv2_json}: {exc.strerror}") from exc
    controller = Controller(topology, schema, config, election_id=args.election_id)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"serving {len(topology.switches)} switches, {len(topology.vms)} declared VMs; "
              "Ctrl-C to stop", flush=True)
        await controller.run(stop)

    asyncio.run(serve())
    m = controller.metrics
    print(f"stopped: {m.learned} hosts learned, {m.moves} moves, "
          f"{m.proxy_arp_replies} ARP requests answered")
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
    serve.set_defaults(func=_cmd_serve)
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
