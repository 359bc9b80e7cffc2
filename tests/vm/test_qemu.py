"""ctrl.vm.qemu, tap and migration without QEMU: guest specs, QEMU's command line, tap
MACs, and what query-migrate replies mean."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from ctrl.platform.netns import NetnsError
from ctrl.vm.domain import domain_xml
from ctrl.vm.errors import VmError
from ctrl.vm.image import GuestImage
from ctrl.vm.migration import stats_of
from ctrl.vm.qemu import GuestSpec, Placement, qemu_argv
from ctrl.vm.tap import tap_mac

IMAGE = GuestImage(Path("/c/vmlinuz"), Path("/c/initramfs.cpio.gz"), "6.1.0-57-cloud-amd64")
SPEC = GuestSpec("vm1", "52:54:00:98:00:0A", "10.98.0.10", 24, "10.98.0.254", 7)
PLACE = Placement("hv1", "br0", "vm1a", Path("/run/t"))


def test_the_kernel_command_line_carries_what_init_reads() -> None:
    words = SPEC.cmdline().split()
    assert {"console=ttyS0", "quiet", "vm.mac=52:54:00:98:00:0a", "vm.ip=10.98.0.10/24",
            "vm.gw=10.98.0.254", "vm.port=7"} <= set(words)
    assert "earlyprintk=ttyS0" in SPEC.cmdline(early_console=True)
    assert "vm.gw" not in GuestSpec("v", "52:54:00:00:00:01", "10.0.0.1").cmdline()
    assert "vm.mtu" not in SPEC.cmdline()
    assert "vm.mtu=1450" in GuestSpec("v", "52:54:00:00:00:01", "10.0.0.1", mtu=1450).cmdline()


def test_bad_specs_are_refused() -> None:
    with pytest.raises(NetnsError, match="bad MAC"):
        GuestSpec("v", "52:54:00:00:00", "10.0.0.1")
    with pytest.raises(VmError, match="guest v"):
        GuestSpec("v", "52:54:00:00:00:01", "10.0.0.300")
    with pytest.raises(VmError, match="port 0"):
        GuestSpec("v", "52:54:00:00:00:01", "10.0.0.1", port=0)
    with pytest.raises(VmError, match="MTU 20"):
        GuestSpec("v", "52:54:00:00:00:01", "10.0.0.1", mtu=20)


def test_qemu_gets_the_nic_mac_the_tap_and_qmp_and_incoming_only_when_asked() -> None:
    argv = qemu_argv("/usr/bin/qemu-system-x86_64", IMAGE, SPEC, PLACE, "tcg")
    assert argv[0] == "/usr/bin/qemu-system-x86_64"
    assert argv[argv.index("-accel") + 1] == "tcg"
    assert argv[argv.index("-m") + 1] == "256"
    assert "virtio-net-pci,netdev=net0,mac=52:54:00:98:00:0a,romfile=,guest_announce=off" \
        in argv
    assert "tap,id=net0,ifname=vm1a,script=no,downscript=no" in argv
    assert "unix:/run/t/vm1-vm1a.qmp,server=on,wait=off" in argv
    assert "-incoming" not in argv
    dst = qemu_argv("qemu", IMAGE, SPEC, PLACE, "kvm", incoming="unix:/run/t/m")
    assert dst[-2:] == ["-incoming", "unix:/run/t/m"]
    with pytest.raises(VmError, match="unknown accelerator"):
        qemu_argv("qemu", IMAGE, SPEC, PLACE, "hvf")


def test_a_vhost_user_nic_listens_for_the_switch_on_shared_memory() -> None:
    place = replace(PLACE, tap="l1h0v1", vhost=True)
    argv = qemu_argv("qemu", IMAGE, SPEC, place, "tcg")
    assert not any(a.startswith("tap,") for a in argv)
    assert argv[argv.index("-chardev") + 1] == \
        "socket,id=vhost0,path=/run/t/vm1-l1h0v1.vhost,server=on,wait=off"
    assert "vhost-user,id=net0,chardev=vhost0" in argv
    assert "memory-backend-file,id=mem0,size=256M,mem-path=/dev/shm,share=on" in argv
    assert argv[argv.index("-machine") + 1] == "q35,memory-backend=mem0"
    assert "virtio-net-pci,netdev=net0,mac=52:54:00:98:00:0a,romfile=,guest_announce=off," \
        "vectors=0" in argv


def test_a_tap_never_has_the_guests_mac() -> None:
    assert tap_mac("52:54:00:98:00:0A") == "fe:54:00:98:00:0a"
    with pytest.raises(NetnsError, match="bad MAC"):
        tap_mac("52:54:00:98:00:zz")


def test_query_migrate_replies() -> None:
    done = stats_of({"status": "completed", "total-time": 733, "downtime": 12,
                     "setup-time": 3, "ram": {"transferred": 96890576}})
    assert (done.status, done.total_ms, done.downtime_ms, done.setup_ms, done.transferred) \
        == ("completed", 733, 12, 3, 96890576)
    assert done.finished
    active = stats_of({"status": "active", "expected-downtime": 300})
    assert not active.finished and active.downtime_ms is None
    failed = stats_of({"status": "failed", "error-desc": "Unable to write to socket"})
    assert failed.finished and failed.error == "Unable to write to socket"
    assert stats_of({}).status == "none"
    assert done.pause_ms is None
    paused = replace(done, stopped_at=1000.25, resumed_at=1000.2625)
    assert paused.pause_ms == pytest.approx(12.5)


def test_a_domain_gets_a_nic_with_the_guests_mac_only_when_asked() -> None:
    bare = ET.fromstring(domain_xml(SPEC, IMAGE, "/usr/bin/qemu", Path("/c/console")))
    assert bare.find("devices/interface") is None
    dom = ET.fromstring(domain_xml(SPEC, IMAGE, "/usr/bin/qemu", Path("/c/console"),
                                   user_nic=True))
    nic = dom.find("devices/interface")
    assert nic is not None and nic.get("type") == "user"
    assert [m.get("address") for m in nic.iter("mac")] == ["52:54:00:98:00:0a"]


def test_a_missing_qemu_is_said_before_anything_is_made(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from ctrl.vm.errors import MissingTool
    from ctrl.vm.qemu import Guest
    monkeypatch.setenv("PATH", str(tmp_path))   # no qemu-system-x86_64 there
    place = Placement("no-such-ns", "br0", "vm1a", tmp_path / "work")
    with pytest.raises(MissingTool, match="apt-get install qemu-system-x86"):
        Guest.start(IMAGE, SPEC, place)
    assert not (tmp_path / "work").exists()
