"""One guest: a QEMU process in a network namespace, its NIC a tap on that namespace's
bridge (or a vhost-user port of an OVS-DPDK switch), driven over QMP (a unix socket,
which reaches across namespaces).

    image = ensure_image()
    place = Placement(ns="hv1", bridge="br0", tap="vm1", workdir=Path("/run/vm1"))
    guest = Guest.start(image, GuestSpec("vm1", "52:54:00:00:00:01", "10.98.0.10"), place)
    guest.wait_booted()
    ...
    guest.stop()

The guest's /init (ctrl/vm/guest/init) takes its MAC, address, route and the
endpoint's port from the kernel command line that `GuestSpec.cmdline` writes; the
same MAC is the virtio NIC's, so QEMU's announcement after a migration (RARP) names
it. A destination of a migration is started with `incoming=True` (`-incoming
unix:...`) and waits, stopped, for the source to send it the guest.

With `Placement.vhost`, the NIC is vhost-user instead, the way OVS-DPDK serves VMs:
QEMU listens on a unix socket (`-chardev socket,server=on`) to which the switch
connects (OVS's `dpdkvhostuserclient` port, which whoever places the guest adds), and
the switch's PMD reads and writes the guest's virtio rings in its memory, which is
therefore shared (`memory-backend-file,share=on` in /dev/shm: no hugepages needed).
The virtio NIC then has no MSI-X (`vectors=0`): QEMU 7.2 under TCG crashes (SIGSEGV in
msix_set_vector_notifiers) when a vhost-user backend starts a NIC with MSI-X vectors.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ctrl.vm import tap
from ctrl.vm.errors import VmError
from ctrl.vm.image import GuestImage, require
from ctrl.vm.qmp import Qmp

log = logging.getLogger(__name__)

QEMU = "qemu-system-x86_64"
QEMU_PACKAGE = "qemu-system-x86"
MEMORY_MB = 256
SHARED_MEMORY = "/dev/shm"        # where a vhost-user guest's memory file is (then unlinked)
READY = b"vm-mobility: ready"     # what /init prints once the NIC is configured
ENDPOINT_UP = b"endpoint: udp+tcp port"   # what the endpoint prints once it listens
KERNEL_BANNER = b"Linux version"  # the kernel's first line on an early console
ACCELS = ("kvm", "tcg")


@dataclass(frozen=True, slots=True)
class GuestSpec:
    """What a guest is, wherever it runs: its name, NIC MAC, address and endpoint port."""

    name: str
    mac: str
    ip: str
    prefix: int = 24
    gateway: str | None = None
    port: int = 7                 # the endpoint's UDP echo and TCP port
    memory_mb: int = MEMORY_MB
    mtu: int | None = None        # the NIC's MTU (a GRE lab's hosts get 1450)

    def __post_init__(self) -> None:
        tap.tap_mac(self.mac)   # a MAC that parses
        try:
            ipaddress.IPv4Interface(f"{self.ip}/{self.prefix}")
            if self.gateway is not None:
                ipaddress.IPv4Address(self.gateway)
        except ValueError as exc:
            raise VmError(f"guest {self.name}: {exc}") from None
        if not 0 < self.port < 65536:
            raise VmError(f"guest {self.name}: port {self.port} out of range")
        if self.mtu is not None and not 68 <= self.mtu <= 65535:
            raise VmError(f"guest {self.name}: MTU {self.mtu} out of range")

    def cmdline(self, early_console: bool = False) -> str:
        """The kernel command line; /init reads the vm.* words."""
        words = ["console=ttyS0", "panic=-1"]
        words.append("earlyprintk=ttyS0" if early_console else "quiet")
        words += [f"vm.mac={self.mac.lower()}", f"vm.ip={self.ip}/{self.prefix}",
                  f"vm.port={self.port}"]
        if self.gateway:
            words.append(f"vm.gw={self.gateway}")
        if self.mtu:
            words.append(f"vm.mtu={self.mtu}")
        return " ".join(words)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one QEMU runs: its namespace, the bridge its tap joins, the tap's name, and a
    directory for its QMP socket, console and log (and, incoming, its migration socket).
    With `vhost`, its NIC is vhost-user on a socket in that directory instead (`tap`
    then names the switch's port for it; `bridge` is not used)."""

    ns: str
    bridge: str
    tap: str
    workdir: Path
    vhost: bool = False

    def path(self, spec: GuestSpec, what: str) -> Path:
        return self.workdir / f"{spec.name}-{self.tap}.{what}"


def qemu_argv(qemu: str, image: GuestImage, spec: GuestSpec, place: Placement, accel: str,
              incoming: str | None = None, early_console: bool = False) -> list[str]:
    """QEMU's command line for `spec` at `place` (both ends of a migration get the same
    one, but for `-incoming`)."""
    if accel not in ACCELS:
        raise VmError(f"unknown accelerator {accel!r} (one of {', '.join(ACCELS)})")
    argv = [
        qemu, "-name", spec.name, "-machine", "q35", "-accel", accel,
        "-m", str(spec.memory_mb), "-smp", "1",
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-kernel", str(image.kernel), "-initrd", str(image.initramfs),
        "-append", spec.cmdline(early_console),
        "-serial", f"file:{place.path(spec, 'console')}",
        "-qmp", f"unix:{place.path(spec, 'qmp')},server=on,wait=off",
        *_nic_backend(spec, place),
        # No option ROM: the kernel is loaded directly, so no iPXE is needed. No guest
        # announce either: QEMU's own RARP announces the guest after a migration, and the
        # config interrupt that asks the guest to announce itself too has been seen to
        # meet a guest kernel (6.1, TCG) in a state that panics it.
        "-device", f"virtio-net-pci,netdev=net0,mac={spec.mac.lower()},romfile=,"
        "guest_announce=off" + (",vectors=0" if place.vhost else ""),
    ]
    if place.vhost:   # the switch maps the guest's memory: one shared file, its only RAM
        argv[argv.index("q35")] = "q35,memory-backend=mem0"
    if incoming:
        argv += ["-incoming", incoming]
    return argv


def _nic_backend(spec: GuestSpec, place: Placement) -> list[str]:
    """The -netdev of the guest's NIC: a tap, or vhost-user (with the shared memory the
    backend needs); after a migration QEMU announces the guest through either (a
    vhost-user backend is asked to send the RARP: VHOST_USER_SEND_RARP)."""
    if not place.vhost:
        return ["-netdev", f"tap,id=net0,ifname={place.tap},script=no,downscript=no"]
    return ["-chardev", f"socket,id=vhost0,path={place.path(spec, 'vhost')},server=on,"
            "wait=off",
            "-netdev", "vhost-user,id=net0,chardev=vhost0",
            "-object", f"memory-backend-file,id=mem0,size={spec.memory_mb}M,"
            f"mem-path={SHARED_MEMORY},share=on"]


def tail_of(path: Path, lines: int = 8) -> str:
    """The last lines of a log or console file, on one line."""
    try:
        return " / ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(nothing)"


def run_state(qmp: Qmp, name: str) -> str:
    """`query-status`: 'running', 'paused', 'inmigrate', 'postmigrate', ..."""
    got = qmp.execute("query-status")
    if not isinstance(got, dict) or not isinstance(got.get("status"), str):
        raise VmError(f"{name}: odd query-status reply {got!r}")
    return str(got["status"])


def wait_booted(spec: GuestSpec, place: Placement, timeout: float,
                alive: Callable[[], bool]) -> None:
    """Until /init has set up the NIC and the endpoint listens (/init starts it in the
    background: its own line says when it is bound)."""
    deadline = time.monotonic() + timeout
    for marker in (READY, ENDPOINT_UP):
        wait_console(spec, place, marker, max(0.0, deadline - time.monotonic()), alive)


def wait_console(spec: GuestSpec, place: Placement, marker: bytes, timeout: float,
                 alive: Callable[[], bool]) -> None:
    """Until `marker` is on the console of `spec`'s QEMU at `place`; a VmError when the
    QEMU is gone first (`alive` says) or it does not come in `timeout`."""
    console = place.path(spec, "console")
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(FileNotFoundError):
            if marker in console.read_bytes():
                return
        if not alive():
            raise VmError(f"{spec.name}: QEMU exited before {marker.decode()!r}: "
                          f"{tail_of(place.path(spec, 'log'))}")
        if time.monotonic() > deadline:
            raise VmError(f"{spec.name}: no {marker.decode()!r} on the console in "
                          f"{timeout:.0f} s: {tail_of(console)}")
        time.sleep(0.02)


class Guest:
    """A QEMU process for one guest (running, or waiting for it with `incoming`), owned by
    this object: `stop` ends it, by its PID, and removes its tap."""

    def __init__(self, spec: GuestSpec, place: Placement, accel: str,
                 process: subprocess.Popen[bytes], qmp: Qmp, started: float,
                 incoming: str | None) -> None:
        self.spec = spec
        self.place = place
        self.accel = accel
        self.process = process
        self.qmp = qmp
        self.started = started   # time.monotonic() when QEMU was started
        self.incoming = incoming

    @classmethod
    def start(cls, image: GuestImage, spec: GuestSpec, place: Placement, *,
              accel: str = "tcg", incoming: bool = False, qemu: str | None = None,
              early_console: bool = False) -> Guest:
        """Make the tap, start QEMU in the namespace and connect to its QMP; with
        `incoming`, QEMU waits for a migration on a unix socket in `place.workdir`.
        A vhost-user NIC (`place.vhost`): QEMU answers nothing (QMP neither) until the
        switch has connected to its socket, so the switch's port must be there first (an
        OVS `dpdkvhostuserclient` port tries again every second until QEMU listens)."""
        binary = qemu or require(QEMU, QEMU_PACKAGE, "to run guests")
        place.workdir.mkdir(parents=True, exist_ok=True)
        for what in ("qmp", "console", "migrate", "vhost"):
            with contextlib.suppress(FileNotFoundError):
                place.path(spec, what).unlink()
        uri = f"unix:{place.path(spec, 'migrate')}" if incoming else None
        argv = ["ip", "netns", "exec", place.ns,
                *qemu_argv(binary, image, spec, place, accel, uri, early_console)]
        plug(place, spec.mac)
        logfile = place.path(spec, "log")
        try:
            with logfile.open("wb") as out:
                started = time.monotonic()
                process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                           stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            unplug(place)
            raise VmError(f"{spec.name}: cannot start {binary}: {exc.strerror}") from exc
        log.info("%s: QEMU pid %d in %s (%s%s)", spec.name, process.pid, place.ns, accel,
                 ", incoming" if incoming else "")
        try:
            qmp = Qmp.connect(place.path(spec, "qmp"), timeout=30.0, name=spec.name,
                              alive=lambda: process.poll() is None)
        except BaseException as exc:
            _end(process)
            unplug(place)
            raise VmError(f"{spec.name}: QEMU did not come up ({exc}); its output: "
                          f"{tail_of(logfile)}") from exc
        return cls(spec, place, accel, process, qmp, started, uri)

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        """Whether the QEMU process is alive (whatever the guest's own state)."""
        return self.process.poll() is None

    def status(self) -> str:
        """QEMU's run state: 'running', 'paused', 'inmigrate', 'postmigrate', ..."""
        return run_state(self.qmp, self.spec.name)

    def console(self) -> bytes:
        try:
            return self.place.path(self.spec, "console").read_bytes()
        except FileNotFoundError:
            return b""

    def wait_console(self, marker: bytes, timeout: float) -> float:
        """Seconds from QEMU's start until `marker` is on the guest's console; a VmError
        when QEMU exits first or it does not come in `timeout`."""
        wait_console(self.spec, self.place, marker, timeout, self.running)
        return time.monotonic() - self.started

    def wait_booted(self, timeout: float = 120.0) -> float:
        """Seconds from QEMU's start until /init has set up the NIC and the endpoint
        listens."""
        wait_booted(self.spec, self.place, timeout, self.running)
        return time.monotonic() - self.started

    def kill(self) -> None:
        """SIGKILL to this QEMU (by its PID), as a crash would; `stop` still cleans up."""
        if self.running():
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        """Quit QEMU (QMP `quit`, then SIGTERM, then SIGKILL, by PID) and remove its tap."""
        if self.running():
            with contextlib.suppress(Exception):
                self.qmp.execute("quit", timeout=2.0)
        self.qmp.close()
        _end(self.process)
        unplug(self.place)
        for what in ("qmp", "migrate", "vhost"):
            with contextlib.suppress(FileNotFoundError):
                self.place.path(self.spec, what).unlink()

    def __enter__(self) -> Guest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def plug(place: Placement, mac: str, mtu: int | None = None, flood: bool = True) -> None:
    """The guest's tap on its bridge (ctrl.vm.tap.add_tap); nothing for a vhost-user NIC,
    whose port on the switch is added by whoever places the guest."""
    if not place.vhost:
        tap.add_tap(place.tap, place.ns, place.bridge, mac, mtu=mtu, flood=flood)


def unplug(place: Placement) -> None:
    """The guest's tap removed (nothing for a vhost-user NIC)."""
    if not place.vhost:
        tap.delete_tap(place.tap, place.ns)


def _end(process: subprocess.Popen[bytes], grace: float = 3.0) -> None:
    for stop in (None, process.terminate, process.kill):
        if stop is not None:
            stop()
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
    raise VmError(f"QEMU pid {process.pid} did not end")


def kvm_usable() -> bool:
    """/dev/kvm is there and this process may open it (not yet whether KVM runs guests)."""
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def probe_accel(image: GuestImage, workdir: Path, ns: str, bridge: str,
                timeout: float = 5.0, qemu: str | None = None) -> str:
    """'kvm' if a KVM guest gets as far as the kernel's first console line within
    `timeout`, else 'tcg'. /dev/kvm opening is not enough: on some hosts KVM starts and
    then runs nothing. Needs a namespace with a bridge (the probe guest's tap joins it)."""
    if not kvm_usable():
        return "tcg"
    spec = GuestSpec("kvm-probe", "02:00:00:00:00:01", "192.0.2.1")
    place = Placement(ns, bridge, "kvmprobe", workdir)
    try:
        guest = Guest.start(image, spec, place, accel="kvm", qemu=qemu, early_console=True)
    except VmError as exc:
        log.info("KVM does not start here (%s): TCG", exc)
        return "tcg"
    with guest:
        try:
            guest.wait_console(KERNEL_BANNER, timeout)
        except VmError as exc:
            log.info("KVM runs no guest here (%s): TCG", exc)
            return "tcg"
    return "kvm"

