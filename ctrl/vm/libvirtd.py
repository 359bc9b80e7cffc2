"""A private libvirtd: the daemon in session mode (an unprivileged user's own libvirt),
with its socket, configuration and state under one directory, and its QEMU guests
run as that user with TCG.

Debian's QEMU driver in system mode (root) needs the `libvirt-qemu` user that
libvirt-daemon-system creates, and that package brings systemd, polkit and a default
network with it. Session mode needs none of that: `libvirtd` from libvirt-daemon,
started by hand as, by default, `nobody`. Several of them (one per hypervisor) migrate
guests between each other over unix sockets; each gets its own host UUID so that
libvirt does not take them for one host.

    with SessionLibvirtd(tmp / "hv1") as d:
        conn = libvirt.open(d.uri)
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import signal
import subprocess
import time
import uuid
from pathlib import Path

from ctrl.vm.errors import VmError
from ctrl.vm.image import require
from ctrl.vm.libvirt_events import load_libvirt

log = logging.getLogger(__name__)

LIBVIRTD_PACKAGE = "libvirt-daemon libvirt-daemon-driver-qemu"


class SessionLibvirtd:
    """One private libvirtd, owned by this object: `stop` ends it by its PID."""

    def __init__(self, root: Path, user: str = "nobody") -> None:
        self.root = root
        self.user = user
        self.host_uuid = str(uuid.uuid4())
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.root / "run" / "libvirt" / "libvirt-sock"

    @property
    def uri(self) -> str:
        return f"qemu+unix:///session?socket={self.socket}"

    @property
    def home(self) -> Path:
        """The daemon user's home here: a place it may write (consoles, sockets)."""
        return self.root / "home"

    def start(self, timeout: float = 30.0) -> SessionLibvirtd:
        binary = require("libvirtd", LIBVIRTD_PACKAGE, "for libvirt's QEMU driver")
        try:
            who = pwd.getpwnam(self.user)
        except KeyError:
            raise VmError(f"no user {self.user!r} to run libvirtd as") from None
        dirs = {name: self.root / name for name in ("home", "run", "config", "cache")}
        (dirs["config"] / "libvirt").mkdir(parents=True, exist_ok=True)
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        (dirs["config"] / "libvirt" / "libvirtd.conf").write_text(
            f'host_uuid = "{self.host_uuid}"\n')
        for d in (self.root, *dirs.values(), dirs["config"] / "libvirt"):
            os.chown(d, who.pw_uid, who.pw_gid)
        dirs["run"].chmod(0o700)
        env = {"HOME": str(dirs["home"]), "XDG_RUNTIME_DIR": str(dirs["run"]),
               "XDG_CONFIG_HOME": str(dirs["config"]), "XDG_CACHE_HOME": str(dirs["cache"]),
               "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        logfile = self.root / "libvirtd.log"
        with logfile.open("wb") as out:
            self.process = subprocess.Popen(
                [binary], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=env, user=who.pw_uid, group=who.pw_gid, extra_groups=[],
                start_new_session=True, cwd=dirs["home"])
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = logfile.read_text(errors="replace").strip().splitlines()[-5:]
                self.stop()
                raise VmError(f"libvirtd did not come up under {self.root}: "
                              + " / ".join(tail))
            time.sleep(0.05)
        log.info("libvirtd pid %d (session of %s) at %s", self.process.pid, self.user,
                 self.socket)
        return self

    def stop(self) -> None:
        """Destroy its guests (libvirtd leaves them running when it ends), then SIGTERM,
        then SIGKILL, to the daemon by its PID."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self._destroy_guests()
        self._kill_leftover_qemus()
        for stop in (self.process.terminate, self.process.kill):
            if self.process.poll() is not None:
                break
            stop()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        self.process = None

    def _destroy_guests(self) -> None:
        try:
            libvirt = load_libvirt()
        except VmError:
            return
        try:
            conn = libvirt.open(self.uri)
        except libvirt.libvirtError as exc:
            log.warning("libvirtd at %s: cannot connect to end its guests: %s", self.root, exc)
            return
        try:
            for dom in conn.listAllDomains():
                with contextlib.suppress(libvirt.libvirtError):
                    if dom.isActive():
                        dom.destroy()
        finally:
            conn.close()

    def _kill_leftover_qemus(self) -> None:
        """Any QEMU of this daemon still alive (by the PID files libvirt keeps)."""
        for pidfile in (self.root / "run" / "libvirt" / "qemu" / "run").glob("*.pid"):
            with contextlib.suppress(OSError, ValueError):
                pid = int(pidfile.read_text().strip())
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"qemu-system" in cmdline and str(self.root).encode() in cmdline:
                    log.warning("killing QEMU pid %d left by libvirtd at %s", pid, self.root)
                    os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> SessionLibvirtd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
