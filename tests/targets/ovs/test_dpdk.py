"""The DPDK datapath's settings (pure), and the target on it with Debian's DPDK build of
ovs-vswitchd (root; skipped, saying why, where that build is not installed)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctrl.platform import netns
from ctrl.targets.ovs import dpdk
from ctrl.targets.ovs.daemon import OvsDaemons
from ctrl.targets.ovs.dpdk import DpdkConfig
from ctrl.targets.ovs.errors import OvsError
from ctrl.targets.ovs.ovsdb import vsctl
from ctrl.targets.ovs.target import BridgeSpec, Fabric, running
from tests.packet.ovs_target import dpdk_available, skip_without_ovs

MEMINFO = """MemTotal:       24000000 kB
HugePages_Total:     512
HugePages_Free:      300
HugePages_Rsvd:        0
Hugepagesize:       2048 kB
"""


def test_plain_memory_where_there_are_no_hugepages() -> None:
    got = DpdkConfig().other_config({0, 1}, free_hugepages_mb=0)
    assert got == {"dpdk-init": "true",
                   "dpdk-extra": "--no-huge -m 256 --no-pci --legacy-mem --no-shconf",
                   "pmd-cpu-mask": "0x2", "pmd-maxsleep": "200"}


def test_hugepages_where_enough_are_free() -> None:
    free = dpdk.parse_meminfo(MEMINFO)
    assert free == 600
    got = DpdkConfig(memory_mb=512).other_config({0, 1, 2, 3}, free)
    assert got["dpdk-extra"] == "--no-pci"      # OVS adds --in-memory itself
    assert got["dpdk-socket-mem"] == got["dpdk-socket-limit"] == "512"
    assert got["pmd-cpu-mask"] == "0x8"          # the last core
    assert "--no-huge" in DpdkConfig(memory_mb=1024).other_config({0}, free)["dpdk-extra"]
    assert "--no-huge" in DpdkConfig(hugepages="no").other_config({0}, free)["dpdk-extra"]


def test_hugepages_asked_for_and_missing_is_an_error() -> None:
    with pytest.raises(OvsError, match="hugepages asked for, but 0 MB are free"):
        DpdkConfig(hugepages="yes").other_config({0, 1}, 0)


def test_pmd_pinned_where_asked_and_only_to_a_core_we_may_use() -> None:
    assert DpdkConfig(pmd_cpu=0).other_config({0, 1}, 0)["pmd-cpu-mask"] == "0x1"
    assert DpdkConfig(pmd_maxsleep_us=0).other_config({0, 1}, 0)["pmd-maxsleep"] == "0"
    with pytest.raises(OvsError, match="PMD core 3: this process may use cores 0, 1"):
        DpdkConfig(pmd_cpu=3).other_config({0, 1}, 0)


@pytest.mark.parametrize("kwargs, words", [
    ({"memory_mb": 16}, "give 64 MB or more"),
    ({"pmd_maxsleep_us": 10_001}, "OVS takes 0..10000"),
    ({"pmd_maxsleep_us": -1}, "OVS takes"),
    ({"pmd_cpu": -1}, "no such core"),
    ({"driver": "pcap"}, "one of af_packet, af_xdp"),
    ({"hugepages": "maybe"}, "auto, yes or no"),
])
def test_bad_settings_are_refused(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(OvsError, match=words):
        DpdkConfig(**kwargs)  # type: ignore[arg-type]


def test_a_port_is_a_virtual_device_named_after_its_interface() -> None:
    assert DpdkConfig().port_options("la0p2") == (
        "dpdk", ["options:dpdk-devargs=net_af_packet_la0p2,iface=la0p2"])
    assert DpdkConfig(driver="af_xdp").port_options("v-1.x") == (
        "dpdk", ["options:dpdk-devargs=net_af_xdp_v_1_x,iface=v-1.x"])


def test_what_is_missing_names_the_debian_packages() -> None:
    assert dpdk.missing("af_packet", {"ovs-vswitchd-dpdk": True, "af_packet": True,
                                      "mempool_ring": True}) == []
    assert dpdk.missing("af_packet", {"ovs-vswitchd-dpdk": True}) == [
        "librte-net-af-packet23", "librte-mempool-ring23"]
    assert dpdk.missing("af_xdp", {}) == ["openvswitch-switch-dpdk", "librte-net-af-xdp23",
                                          "librte-mempool-ring23"]


def test_the_dpdk_build_is_told_from_the_plain_one() -> None:
    assert dpdk.is_dpdk_vswitchd(f"{dpdk.VSWITCHD} unix:/run/x/db.sock --pidfile=/run/x/p")
    assert not dpdk.is_dpdk_vswitchd("/usr/sbin/ovs-vswitchd unix:/run/x/db.sock")


def test_the_log_s_errors_on_one_line() -> None:
    text = ("2026-01-01T00:00:00.000Z|00001|dpdk|INFO|EAL ARGS: x\n"
            "2026-01-01T00:00:00.001Z|00002|netdev_dpdk|ERR|Failed to create mempool \"m\"\n"
            "2026-01-01T00:00:00.002Z|00003|dpdk|WARN|EAL: cannot use hugepages\n")
    assert dpdk.eal_errors(text) == 'Failed to create mempool "m" / EAL: cannot use hugepages'


# --- the target on DPDK's datapath ---------------------------------------------------

def _skip_without_dpdk() -> None:
    skip_without_ovs()
    if (why := dpdk_available()) is not None:
        pytest.skip(why)


@contextlib.contextmanager
def _wires(tag: str) -> Iterator[tuple[str, dict[int, str]]]:
    """A namespace with a veth pair whose two ends are the bridge's ports 1 and 2."""
    uid = f"{tag}{os.getpid() % 100000}"
    with netns.scratch_netns(f"dk{uid}") as ns:
        netns.add_veth(f"dk{uid}a", f"dk{uid}b", ns=ns, peer_ns=ns)
        yield ns, {1: f"dk{uid}a", 2: f"dk{uid}b"}


def _pmd_cpus(pid: int) -> set[str]:
    """The CPUs each PMD thread of ovs-vswitchd `pid` may run on."""
    out = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        if (task / "comm").read_text().startswith("pmd"):
            status = (task / "status").read_text()
            out.add(status.split("Cpus_allowed_list:")[1].split()[0])
    return out


@pytest.mark.root
@pytest.mark.dpdk
def test_ports_are_dpdk_ports_and_the_pmd_is_pinned_and_sleeps(tmp_path: Path) -> None:
    _skip_without_dpdk()
    cpu = min(os.sched_getaffinity(0))
    with _wires("p") as (ns, ports), running(tmp_path, [BridgeSpec(
            f"dkb{os.getpid() % 100000}", 1, ports, ns, gre=False)],
            DpdkConfig(pmd_cpu=cpu, pmd_maxsleep_us=300)) as devices:
        # a Write answers after its megaflow purge here (its RCU grace period: device.py)
        assert devices[1].answer_after_purge
        daemons = OvsDaemons(tmp_path / ns, ns)
        pid = daemons.running("ovs-vswitchd")
        assert pid is not None
        assert Path(f"/proc/{pid}/exe").resolve() == dpdk.VSWITCHD
        rows = vsctl(daemons, ["--columns=name,type,options", "--format=csv", "--no-headings",
                               "list", "interface"])
        for ifname in ports.values():
            assert f'{ifname},dpdk,"{{dpdk-devargs=""net_af_packet_{ifname},iface={ifname}' \
                   '""}"' in rows
        assert vsctl(daemons, ["get", "Open_vSwitch", ".", "dpdk_initialized"]).strip() == "true"
        config = vsctl(daemons, ["get", "Open_vSwitch", ".", "other_config"])
        assert f'pmd-cpu-mask="{1 << cpu:#x}"' in config and 'pmd-maxsleep="300"' in config
        assert _pmd_cpus(pid) == {str(cpu)}


@pytest.mark.root
@pytest.mark.dpdk
def test_a_port_dpdk_cannot_open_says_why_from_the_log(tmp_path: Path) -> None:
    _skip_without_dpdk()
    with _wires("m") as (ns, ports), pytest.raises(OvsError) as err, running(
            tmp_path, [BridgeSpec(f"dkm{os.getpid() % 100000}", 1, ports, ns, gre=False)],
            DpdkConfig(memory_mb=64, hugepages="no")):
        pass
    assert "Failed to create mempool" in str(err.value)
    assert not list(tmp_path.rglob("ovs-vswitchd.pid")) or OvsDaemons(
        tmp_path / ns, ns).running("ovs-vswitchd") is None    # nothing left running


@pytest.mark.root
@pytest.mark.dpdk
def test_daemons_of_the_other_datapath_are_not_adopted(tmp_path: Path) -> None:
    """A plain ovs-vswitchd left running is not taken for a DPDK one: a clear error, and
    it forwards on as it was (and the other way round)."""
    _skip_without_dpdk()
    bridge = f"dka{os.getpid() % 100000}"
    with _wires("a") as (ns, ports):
        for first, second in ((None, DpdkConfig()), (DpdkConfig(), None)):
            left = Fabric(tmp_path, [BridgeSpec(bridge, 1, ports, ns, gre=False)], first)
            left.start()
            try:
                left.stop(keep=True)
                daemons = OvsDaemons(tmp_path / ns, ns)
                pid = daemons.running("ovs-vswitchd")
                with pytest.raises(OvsError, match=r"ovs-vswitchd .* runs there"):
                    Fabric(tmp_path, [BridgeSpec(bridge, 1, ports, ns, gre=False)],
                           second).start()
                assert daemons.running("ovs-vswitchd") == pid
                assert bridge in daemons.list_bridges()
            finally:
                again = Fabric(tmp_path, [BridgeSpec(bridge, 1, ports, ns, gre=False)], first)
                again.start()
                again.stop()
