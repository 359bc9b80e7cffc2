"""The lab on DPDK's datapath (root, Open vSwitch with openvswitch-switch-dpdk): each
site's ovs-vswitchd is the DPDK build and the switch ports DPDK ports; hosts talk and a
connection lives through a migration across the WAN; where DPDK does not start, the lab
says why and runs on the plain datapath; QEMU guests on vhost-user ports of their
hypervisors' OVS-DPDK switches boot, echo, and live-migrate (qemu); `down` leaves
nothing behind.

Correctness only: the figures are bench/bench_lab_migrations.py's and the demo's.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctrl.lab import build, guests, vhost
from ctrl.lab.migrate import migrate
from ctrl.lab.spec import LabSpec
from ctrl.lab.state import LabState
from ctrl.platform import netns
from ctrl.targets.bmv2 import free_tcp_port
from ctrl.targets.ovs import dpdk
from ctrl.targets.ovs.daemon import OvsDaemons
from ctrl.targets.ovs.dpdk import DpdkConfig
from ctrl.targets.ovs.ovsdb import vsctl
from tests.lab.labs import left_behind, new_state
from tests.packet.ovs_target import dpdk_available
from tests.traffic import tcp_pair, udp_exchange
from tests.vm import vmlab

pytestmark = [
    pytest.mark.root,
    pytest.mark.dpdk,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and veth pairs"),
    pytest.mark.skipif(dpdk_available() is not None, reason=str(dpdk_available())),
]

# One switch, two hypervisors: the smallest lab, for the fall-back.
SMALL = """name: NAME
sites: {here: {}}
switches: {s1: {site: here}}
hypervisors:
  h1: {switch: s1, port: 1}
  h2: {switch: s1, port: 2}
vnets: {v: {id: 10, gateway_mac: "02:00:00:00:00:fe"}}
vms: {vm1: {vnet: v, mac: "02:00:00:00:01:01", ip: 10.30.0.1/24, hypervisor: h1}}
clients: {c1: {vnet: v, mac: "02:00:00:00:02:01", ip: 10.30.0.2/24, hypervisor: h2}}
"""


def vswitchd_binaries(state: LabState) -> set[Path]:
    """The executable of every ovs-vswitchd the lab's targets run."""
    out = set()
    for pidfile in state.dir.rglob("ovs-vswitchd.pid"):
        daemons = OvsDaemons(pidfile.parent)
        pid = daemons.running("ovs-vswitchd")
        if pid is not None:
            out.add(Path(f"/proc/{pid}/exe").resolve())
    return out


@pytest.fixture
def made(tmp_path: Path) -> Iterator[list[LabState]]:
    """Labs the test brings up, taken down after it whatever happens, nothing left."""
    labs: list[LabState] = []
    yield labs
    for state in labs:
        spec = state.spec()
        build.down(state)
        assert left_behind(spec, state) == []


def test_hosts_talk_over_dpdk_ports_and_a_connection_lives_across_the_wan(
        tmp_path: Path, made: list[LabState]) -> None:
    state = new_state(tmp_path, "cloud-rack", "dk", ports=2, dpdk=DpdkConfig())
    made.append(state)
    lines: list[str] = []
    spec = build.up(state, lines.append)
    assert state.datapath == "dpdk" and any("DPDK datapath" in line for line in lines)
    assert vswitchd_binaries(state) == {dpdk.VSWITCHD}    # one per site, both DPDK
    vm2, user = spec.hosts["vm2"], spec.hosts["user"]
    assert udp_exchange(user.ns, vm2.ns, vm2.ip)
    with tcp_pair(user.ns, vm2.ns, vm2.ip, 7021) as (conn, peer):
        m = migrate(state, "vm2", "server3")          # across the WAN, GRE
        assert (m.src, m.dst) == ("server2", "server3")
        conn.sendall(b"after the move across the WAN")
        assert peer.recv(100) == b"after the move across the WAN"


def test_where_dpdk_does_not_start_the_lab_says_why_and_runs_on_the_plain_datapath(
        tmp_path: Path, made: list[LabState]) -> None:
    small = tmp_path / "small.yaml"
    small.write_text(SMALL.replace("NAME", f"fb{os.getpid() % 100000}"))
    state = LabState(tmp_path / "lab", small.read_text(), str(small), "ovs",
                     [free_tcp_port()], f"127.0.0.1:{free_tcp_port()}",
                     dpdk=DpdkConfig(memory_mb=64, hugepages="no"))   # too little for a port
    made.append(state)
    lines: list[str] = []
    spec = build.up(state, lines.append)
    said = [line for line in lines if "did not start" in line]
    assert said and "Failed to create mempool" in said[0], lines
    assert "runs on the plain netdev datapath" in said[0]
    saved = LabState.load(state.dir)
    assert state.datapath == "netdev" and saved is not None and saved.datapath == "netdev"
    assert vswitchd_binaries(state) == {Path("/usr/lib/openvswitch-switch/ovs-vswitchd")}
    assert udp_exchange(spec.hosts["c1"].ns, spec.hosts["vm1"].ns, spec.hosts["vm1"].ip)


@pytest.mark.qemu
def test_guests_on_vhost_user_ports_echo_and_live_migrate(made: list[LabState]) -> None:
    if (why := vmlab.skip_reason()) is not None:
        pytest.skip(why)
    vmlab.guest_image()
    root = Path(tempfile.mkdtemp(prefix="vlab-"))   # short: QEMU's sockets live under it
    state = new_state(root, "cloud-rack", "vh", ports=2, guests="qemu", dpdk=DpdkConfig())
    made.append(state)
    spec = build.up(state, accel=vmlab.accel_from_env() or "auto")
    assert spec.vhost
    vm2, user = spec.hosts["vm2"], spec.hosts["user"]
    assert vmlab.udp_echo(user.ns, vm2.ip, guests.GUEST_PORT)
    assert _vhost_ports(state, spec, "server2") == [spec.hypervisors["server2"].guest_port(vm2)]
    with netns.in_netns(user.ns):
        conn = socket.create_connection((vm2.ip, guests.GUEST_PORT), timeout=20)
    with conn:
        assert vmlab.tcp_echo(conn, b"at server2") == b"at server2"
        for to in ("server1", "server3"):            # within campus A, then across the WAN
            m = migrate(state, "vm2", to)
            assert m.dst == to and m.qemu_downtime_ms is not None
            assert vmlab.tcp_echo(conn, f"at {to}".encode()) == f"at {to}".encode()
    assert _vhost_ports(state, spec, "server2") == []          # the source's port went
    assert _vhost_ports(state, spec, "server3") == [spec.hypervisors["server3"].guest_port(vm2)]


def _vhost_ports(state: LabState, spec: LabSpec, hypervisor: str) -> list[str]:
    """The vhost-user ports on `hypervisor`'s virtual switch."""
    daemons = vhost.site_daemons(state, spec, hypervisor)
    vswitch = spec.hypervisor(hypervisor).vswitch
    assert vswitch is not None
    ports = vsctl(daemons, ["list-ports", vswitch]).split()
    kinds = {p: vsctl(daemons, ["get", "interface", p, "type"]).strip() for p in ports}
    return [p for p, kind in kinds.items() if kind == "dpdkvhostuserclient"]
