"""`ctrl sink-target`: P4Runtime for every switch of a topology, that keeps what it is
written and forwards nothing (see ctrl/targets/sink/server.py)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path

from ctrl.control.topology import load_topology
from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.p4rt.schema import P4Schema


def _cmd(args: argparse.Namespace) -> int:
    from ctrl.targets.sink.server import Sink, control, serve  # not for every `ctrl`

    topology = load_topology(args.topology)
    sink = Sink(topology)
    p4info = Path(args.p4info) if args.p4info else BuildPaths(project_root()).p4info
    schema = P4Schema.load(p4info)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server, port = await serve(sink, schema, args.grpc_addr)
        ctl = await control(sink, Path(args.control)) if args.control else None
        print(f"sink: {len(sink.devices)} devices on port {port}, {len(sink.peer) // 2} links"
              f"{'; control socket ' + args.control if args.control else ''}; Ctrl-C to stop",
              flush=True)
        try:
            await stop.wait()
        finally:
            if ctl is not None:
                ctl.close()
                with contextlib.suppress(OSError):
                    Path(args.control).unlink()
            await server.stop(0.5)

    asyncio.run(run())
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("sink-target", help="P4Runtime for every switch of a topology, "
                       "forwarding nothing (scale runs)",
                       description="Serve P4Runtime for every switch of TOPOLOGY (all at one "
                       "gRPC address, one device id each) as a switch takes Writes and "
                       "answers Reads, with no data plane: frames the controller sends out "
                       "of a linked port come back punted at the far end (LLDP), and a "
                       "control socket punts frames as if they came in at a port.")
    p.add_argument("--topology", required=True, help="the controller's topology file")
    p.add_argument("--grpc-addr", help="listen here (default: the switches' grpc_addr)")
    p.add_argument("--control", metavar="SOCKET",
                   help="a unix socket for punting frames and counting entries (JSON lines)")
    p.add_argument("--p4info", help="default: build/mobility.p4info")
    p.set_defaults(func=_cmd)
