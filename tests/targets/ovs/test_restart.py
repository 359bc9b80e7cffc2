"""A switch agent that dies costs no packet: `ctrl ovs-target` killed (SIGKILL) while a
constant-rate UDP stream crosses its bridge, started again on the daemons it left,
answers with the pipeline and entries it had; SIGINT and SIGTERM end it with its
daemons and bridges; a target on a run directory an earlier one left with other
bridges takes it over."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctrl.lab.probe import Endpoint, Probe, ProbeOptions
from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.p4rt.entity import Entity, TableEntry, insert
from ctrl.p4rt.errors import P4RuntimeError
from ctrl.p4rt.proto import rpc_code
from ctrl.p4rt.schema import P4Schema
from tests.packet.ovs_target import ovs_available
from tests.packet.syncswitch import SyncSwitch
from tests.targets.ovs.rig import HOSTS, UNDERLAY_A, Rig, entries, ip, rig, stop

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and OVS"),
    pytest.mark.skipif(ovs_available() is not None, reason=str(ovs_available())),
]

PATHS = BuildPaths(project_root())
STOP_S = 2.0  # what SIGINT / SIGTERM may take, by the brief


@pytest.fixture
def r(tmp_path: Path) -> Iterator[Rig]:
    with rig(tmp_path, "k") as made:
        yield made
        assert made.left_behind() == []


def held(sw: SyncSwitch, schema: P4Schema) -> list[Entity]:
    out: list[Entity] = []
    for table in schema.tables:
        out += sw.read_table(table.name)
    return sorted(out + sw.read_multicast_groups(), key=repr)


def connect(r: Rig, election: int) -> SyncSwitch:
    sw = SyncSwitch(r.grpc_addr, 1, (0, election))
    sw.open()
    return sw


def program(r: Rig, schema: P4Schema) -> SyncSwitch:
    """The primary (its stream open), the pipeline, the rig's entries."""
    sw = connect(r, 1)
    sw.set_pipeline(schema, PATHS.json.read_bytes())
    sw.write([insert(e) for e in entries()])
    return sw


def test_a_killed_target_started_again_loses_no_packet_and_holds_what_it_held(r: Rig) -> None:
    schema = P4Schema.load(PATHS.p4info)
    proc = r.start()
    sw = program(r, schema)
    before = held(sw, schema)
    assert len(before) == len(entries())
    a, b = (Endpoint(r.hosts[p], HOSTS[p][1]) for p in (1, 2))
    probe = Probe(a, b, ProbeOptions(udp_rate=1000, tcp_rate=0))
    probe.start()
    try:
        time.sleep(0.5)
        proc.kill()
        proc.wait()
        sw.close()
        time.sleep(0.3)  # the target is down a while: the datapath forwards on alone
        proc = r.start()
        sw = connect(r, 2)
        assert sw.call(sw.client.get_pipeline()) is not None  # no pipeline to push again
        sw.client.schema = schema
        assert held(sw, schema) == before
        # What it found in place (underlay addresses, routes) it builds on, not over.
        more = TableEntry("tunnel_encap", {"tunnel_id": 6}, "tunnel_encap.encap_gre",
                          {"src_addr": ip(UNDERLAY_A), "dst_addr": ip("198.51.100.3")})
        sw.write([insert(more)])
        with pytest.raises(P4RuntimeError) as dup:
            sw.write([insert(more)])
        assert dup.value.is_only(rpc_code.ALREADY_EXISTS)
        time.sleep(0.5)
    finally:
        report = probe.stop()
    for u in report.udp:
        assert u.sent > 1000 and u.lost == 0 and u.received == u.sent, u
    sw.close()
    assert stop(proc) < STOP_S


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_the_target_with_an_open_stream_and_its_daemons(r: Rig, sig: int
                                                                        ) -> None:
    schema = P4Schema.load(PATHS.p4info)
    proc = r.start()
    sw = program(r, schema)  # its StreamChannel stays open
    try:
        took = stop(proc, sig)
    finally:
        sw.close()
    assert proc.returncode == 0
    assert took < STOP_S, f"{took:.2f} s"
    assert r.left_behind() == []
    assert not list(r.rundir.rglob("*.journal"))


def test_a_run_directory_left_with_other_bridges_is_taken_over(r: Rig) -> None:
    proc = r.start(f"{r.bridge}x")  # a GRE bridge of another name
    proc.kill()
    proc.wait()
    proc = r.start()  # its own GRE port would collide with the old one's
    sw = program(r, P4Schema.load(PATHS.p4info))
    sw.close()
    assert stop(proc) < STOP_S


def test_leave_running_hands_everything_to_the_next_target(r: Rig) -> None:
    schema = P4Schema.load(PATHS.p4info)
    proc = r.start(None, "--leave-running")
    sw = program(r, schema)
    before = held(sw, schema)
    sw.close()
    stop(proc)
    assert r.left_behind() != []  # the daemons run on
    proc = r.start()
    sw = connect(r, 2)
    sw.client.schema = schema
    assert held(sw, schema) == before
    sw.close()
    assert stop(proc) < STOP_S


def test_a_second_target_on_a_served_run_directory_is_refused_and_harms_nothing(r: Rig
                                                                                 ) -> None:
    schema = P4Schema.load(PATHS.p4info)
    proc = r.start()
    sw = program(r, schema)
    before = held(sw, schema)
    second = subprocess.run(r.argv(), capture_output=True, text=True, timeout=60, check=False)
    assert second.returncode != 0
    assert "another ovs-target" in second.stderr
    assert held(sw, schema) == before and proc.poll() is None
    sw.close()
    assert stop(proc) < STOP_S


def test_flows_lost_while_the_target_was_down_are_put_back(r: Rig) -> None:
    """ovs-vswitchd's flows gone (as after its own restart) while no target ran: the next
    target puts them back from its journal."""
    schema = P4Schema.load(PATHS.p4info)
    proc = r.start()
    sw = program(r, schema)
    before = held(sw, schema)
    sw.close()
    proc.kill()
    proc.wait()
    ovsdir = r.rundir / r.sw_ns
    subprocess.run(["ovs-ofctl", "-O", "OpenFlow14", "del-flows", f"unix:{ovsdir}/"
                    f"{r.bridge}.mgmt"], check=True, capture_output=True)
    proc = r.start()
    sw = connect(r, 2)
    sw.client.schema = schema
    assert held(sw, schema) == before
    a, b = (Endpoint(r.hosts[p], HOSTS[p][1]) for p in (1, 2))
    report = Probe(a, b, ProbeOptions(udp_rate=1000, tcp_rate=0)).run(duration=0.5)
    for u in report.udp:
        assert u.sent > 400 and u.lost == 0, u
    sw.close()
    assert stop(proc) < STOP_S
