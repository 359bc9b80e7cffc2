"""bmv2's simple_switch_grpc started again after it was killed: the same gRPC port, the
same ports (a frame crosses them again once the pipeline and entries are back: bmv2
keeps nothing), the same log file, each run marked in it. Skipped where bmv2 is not
installed (SIMPLE_SWITCH_GRPC names it, or PATH has it)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.p4rt.entity import TableEntry, insert
from ctrl.p4rt.schema import P4Schema
from ctrl.platform import netns
from ctrl.targets.bmv2 import Bmv2Switch, find_simple_switch_grpc
from tests.packet.syncswitch import SyncSwitch

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(find_simple_switch_grpc() is None,
                       reason="bmv2 simple_switch_grpc is not on PATH"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for veth pairs"),
]

PATHS = BuildPaths(project_root())
DST = bytes.fromhex("020000000b02")
FRAME = DST + bytes.fromhex("020000000b01" "88b5") + b"restarted bmv2" + bytes(32)


@pytest.fixture
def wires() -> Iterator[tuple[dict[int, str], dict[int, str]]]:
    """Two veth pairs: the switch's ends (ports 1, 2) and ours."""
    tag = f"bk{os.getpid() % 10000}"
    ports, ours = {p: f"{tag}s{p}" for p in (1, 2)}, {p: f"{tag}t{p}" for p in (1, 2)}
    try:
        for p in (1, 2):
            netns.add_veth(ports[p], ours[p])
            netns.disable_ipv6(ours[p])
        yield ports, ours
    finally:
        for p in (1, 2):
            netns.delete_link(ports[p])


def _program(sw: SyncSwitch, schema: P4Schema) -> None:
    sw.set_pipeline(schema, PATHS.json.read_bytes())
    sw.write([insert(TableEntry("ingress_port", {"ingress_port": 1}, "ingress_port.set_access",
                                {"vnet_id": 10})),
              insert(TableEntry("bridging", {"vnet_id": 10, "eth_dst": int(DST.hex(), 16)},
                                "bridging.forward", {"port": 2}))])


def _crosses(ours: dict[int, str]) -> bool:
    """A frame sent into port 1 comes out of port 2."""
    rx = netns.raw_socket(ours[2])
    tx = netns.frame_sender(ours[1])
    with rx, tx:
        rx.settimeout(0.2)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            tx.send(FRAME)
            try:
                while True:
                    if netns.recv_frame(rx)[:len(FRAME)] == FRAME:
                        return True
            except TimeoutError:
                continue
    return False


def test_a_killed_switch_starts_again_on_its_port_ports_and_log(
        tmp_path: Path, wires: tuple[dict[int, str], dict[int, str]]) -> None:
    ports, ours = wires
    schema = P4Schema.load(PATHS.p4info)
    log = tmp_path / "bmv2.log"
    bmv2 = Bmv2Switch(ports, log_file=log)
    bmv2.start()
    try:
        port = bmv2.grpc_port
        sw = SyncSwitch(bmv2.grpc_addr)
        sw.open()
        _program(sw, schema)
        assert _crosses(ours)
        sw.close()
        assert bmv2.proc is not None
        os.kill(bmv2.proc.pid, signal.SIGKILL)
        bmv2.proc.wait()
        bmv2.start()  # again: the same object, port and interfaces
        assert bmv2.grpc_port == port
        sw = SyncSwitch(bmv2.grpc_addr)
        sw.open()
        _program(sw, schema)
        assert _crosses(ours)
        sw.close()
    finally:
        bmv2.stop()
    assert log.read_text(errors="replace").count("started: ") == 2
