"""The lab's QEMU guests without QEMU: what a guest is made of, where the probe runs
with one, the demo's table with QEMU's figures, and the lab state that records them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctrl.lab import guests, vhost
from ctrl.lab.build import ovs_target_argv
from ctrl.lab.cli import read_topology
from ctrl.lab.demo import StepResult, endpoints, table
from ctrl.lab.moves import Migration
from ctrl.lab.report import Arrival, UdpTrace, build_report
from ctrl.lab.spec import GRE_MTU, LabError, parse_lab
from ctrl.lab.state import LabState
from ctrl.targets.ovs.dpdk import DpdkConfig


def qemu_lab() -> tuple[str, str]:
    return read_topology("cloud-rack")


def test_a_guest_gets_the_hosts_mac_address_gateway_and_mtu() -> None:
    spec = parse_lab(*qemu_lab(), guests="qemu")
    g = guests.guest_spec(spec.hosts["vm2"])
    assert (g.name, g.mac, g.ip, g.prefix, g.gateway, g.mtu, g.port) == (
        "vm2", "02:00:00:00:01:02", "10.10.0.2", 24, "10.10.0.254", GRE_MTU, 7)
    assert "vm.mtu=1450" in g.cmdline()


def test_a_guest_s_files_sit_under_the_state_dir_by_hypervisor(tmp_path: Path) -> None:
    spec = parse_lab(*qemu_lab(), guests="qemu")
    state = LabState(tmp_path, "", "", "ovs", [], guests="qemu")
    place = guests.placement(state, spec, spec.hosts["vm2"], "server3")
    assert (place.ns, place.bridge, place.tap) == (spec.hypervisors["server3"].ns, "br0", "v2")
    assert place.workdir == tmp_path / "qemu" / "server3"
    deep = LabState(tmp_path / ("x" * 90), "", "", "ovs", [], guests="qemu")
    with pytest.raises(LabError, match="too long for a unix socket"):
        guests.placement(deep, spec, spec.hosts["vm2"], "server3")
    assert guests.proc_name("vm2") == "qemu vm2"
    assert guests.proc_name("vm2", "server3") == "qemu vm2 (incoming at server3)"


def test_the_probe_runs_in_a_namespace_and_the_guest_echoes() -> None:
    spec = parse_lab(*qemu_lab(), guests="qemu")
    a, b = endpoints(spec)
    assert (a.name, a.netns, a.echo_port) == ("user", spec.hosts["user"].ns, None)
    assert (b.name, b.address, b.echo_port) == ("vm2", "10.10.0.2", guests.GUEST_PORT)
    assert endpoints(spec, ["vm2", "user"]) == (a, b)     # the guest is always the echo
    with pytest.raises(LabError, match="both QEMU guests"):
        endpoints(spec, ["vm1", "vm2"])
    plain = parse_lab(*qemu_lab())
    a, b = endpoints(plain)
    assert b.echo_port is None and b.netns == plain.hosts["vm2"].ns


def test_the_state_keeps_what_the_guests_are(tmp_path: Path) -> None:
    text, origin = qemu_lab()
    state = LabState(tmp_path, text, origin, "ovs", [1, 2], "127.0.0.1:3", guests="qemu",
                     accel="tcg", image=("/k", "/i", "6.1"))
    state.save()
    again = LabState.load(tmp_path)
    assert again is not None
    assert (again.guests, again.accel, again.image) == ("qemu", "tcg", ("/k", "/i", "6.1"))
    assert again.spec().hosts["vm2"].guest
    assert guests.image_of(again).kernel == Path("/k")
    plain = LabState(tmp_path / "p", text, origin, "ovs", [1, 2])
    with pytest.raises(LabError, match="no QEMU guests"):
        guests.image_of(plain)


def test_on_dpdk_a_guest_s_nic_is_a_vhost_user_port_of_its_hypervisor_s_switch(
        tmp_path: Path) -> None:
    text, origin = qemu_lab()
    state = LabState(tmp_path, text, origin, "ovs", [1, 2], guests="qemu",
                     dpdk=DpdkConfig(pmd_maxsleep_us=50))
    spec = state.spec()
    place = guests.placement(state, spec, spec.hosts["vm2"], "server3")
    assert place.vhost and place.tap == f"{spec.hypervisors['server3'].vswitch}v2"
    assert vhost.site_daemons(state, spec, "server3").rundir == \
        (tmp_path / "ovs-campus-b" / spec.site_ns["campus-b"]).resolve()
    state.save()
    again = LabState.load(tmp_path)
    assert again is not None and again.dpdk == DpdkConfig(pmd_maxsleep_us=50)
    assert again.datapath == "dpdk" and again.spec().vhost
    argv = ovs_target_argv(spec, state, "campus-a")
    assert argv[argv.index("--datapath") + 1] == "dpdk"
    assert argv[argv.index("--pmd-maxsleep") + 1] == "50"
    a1, hv = spec.switches["a1"], spec.hypervisors["server1"]
    assert f"{hv.vswitch}={spec.tag}b{a1.index}:2,{hv.uplink[0].ifname}" in argv
    assert f"{spec.tag}b{a1.index}:1={a1.ports[1]}" in argv       # a fabric port as ever
    assert not any(a.startswith(f"{spec.tag}b{a1.index}:2=") for a in argv)
    plain = LabState(tmp_path / "p", text, origin, "ovs", [1, 2])
    assert "--datapath" not in ovs_target_argv(plain.spec(), plain, "campus-a")
    (tmp_path / "state.json").write_text((tmp_path / "state.json").read_text().replace(
        '"memory_mb": 256', '"memory_mb": 1'))
    with pytest.raises(LabError, match="DPDK settings are unreadable"):
        LabState.load(tmp_path)


def echoed(sent: int, lost: range, late: range, late_by: float) -> UdpTrace:
    """1 datagram a ms for `sent` ms; `lost` never come back, `late` come back late."""
    sends = [i / 1000 for i in range(sent)]
    back = [Arrival(q, sends[q], sends[q] + 0.0002 + (late_by if q in late else 0.0))
            for q in range(sent) if q not in lost]
    return UdpTrace("user -> vm2 -> user", 1000.0, sends, back)


def test_the_demo_table_puts_qemus_figures_beside_the_probes() -> None:
    # Lost for 20 ms (1000..1019) around a 15 ms pause; the 80 ms after it come back late.
    trace = echoed(3000, range(1000, 1020), range(1020, 1100), 0.08)
    report = build_report(a="user", b="vm2", started="", duration_s=3.0, udp=[trace], tcp=[],
                          min_interruption_ms=2.0)
    quiet = build_report(a="user", b="vm2", started="", duration_s=1.0,
                         udp=[echoed(1000, range(0), range(0), 0)], tcp=[])
    m = Migration("vm2", "server2", "server1", True, 0.5, 1.002, 1.017, 12.0, 700.0)
    lines = table(quiet, report, (StepResult("within", m, 0.95, 1.6),))
    assert lines[0].split() == ["migration", "mode", "QEMU", "downtime", "guest", "paused",
                                "interruption", "network's", "share", "longest", "gap"]
    row = lines[2]
    assert row.startswith("within") and "announced" in row
    assert "12.0 ms" in row and "15.0 ms" in row          # QEMU's, and the guest's pause
    assert "20.0 ms" in row and "5.0 ms" in row           # lost for, and beyond the pause
    assert "101.0 ms" in row                              # the gap, late echoes and all
    assert any("Cloud Rack" in line for line in lines)
    assert any("TCG" in line for line in lines)


def test_a_missing_qemu_is_said_before_the_lab_makes_anything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ctrl.lab import build

    text, origin = qemu_lab()
    state = LabState(tmp_path / "lab", text, origin, "ovs", [1, 2], "127.0.0.1:3",
                     guests="qemu")
    monkeypatch.setenv("PATH", str(tmp_path))   # no qemu-system-x86_64 there
    with pytest.raises(LabError, match="apt-get install qemu-system-x86"):
        build.up(state)
    assert not (tmp_path / "lab").exists()
