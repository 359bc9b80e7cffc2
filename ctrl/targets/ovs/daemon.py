"""Our own ovsdb-server and ovs-vswitchd, with all their state under one run directory.

`OvsDaemons(rundir).start()` creates the database, starts both daemons with
OVS_RUNDIR / OVS_DBDIR / OVS_LOGDIR / OVS_PKGDATADIR... pointing into `rundir`.
When a daemon already serves `rundir` (its pidfile names a live process whose
command line names `rundir`: an earlier target's, killed), it is adopted as it is,
its bridges and flows forwarding on. A run directory is one target's: `stop()`
deletes the bridges of its database and ends the daemons it started or adopted, by
PID; `stop(keep=True)` leaves everything running for the next target.
`stop_rundir(path)` does the same for every run directory under `path` whose
daemons outlived whatever started them (`ctrl lab down`). With `netns`,
ovs-vswitchd runs in that network namespace (`ip netns exec`): the bridges' ports
are its interfaces, and their internal ports and
the addresses GRE needs live in its kernel, so one machine can hold several sites.
Two userspace ovs-vswitchd cannot share a namespace: both want the datapath's tap
device, ovs-netdev. With `dpdk` (a ctrl.targets.ovs.dpdk.DpdkConfig), ovs-vswitchd is
the DPDK build, with that module's settings; nothing else here differs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from ctrl.targets.ovs.dpdk import DpdkConfig, is_dpdk_vswitchd
from ctrl.targets.ovs.errors import OvsError

log = logging.getLogger(__name__)

SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
SHORT_LINKS = Path("/run/mobility-ovs-sockets")
SOCKET_DIR_MAX = 80  # leaves room for "/<bridge name>.mgmt" within a unix socket's 107
DAEMONS = ("ovsdb-server", "ovs-vswitchd")
JOURNALS = "p4rt-*.journal"  # ctrl/targets/ovs/journal.py's, one per bridge


def _alive(pid: int) -> bool:
    """A process, and not a zombie: a detached daemon's parent is init, which may take
    seconds to reap it (two here, in a microVM)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:][:1] != "Z"


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin")
    if found is None:
        raise OvsError(f"{name} is not installed (Debian: apt-get install openvswitch-switch)")
    return found


class OvsDaemons:
    """ovsdb-server + ovs-vswitchd under `rundir`; stops only what it started."""

    def __init__(self, rundir: Path, netns: str | None = None,
                 dpdk: DpdkConfig | None = None) -> None:
        self.rundir = Path(rundir).resolve()
        self.netns = netns
        self.dpdk = dpdk
        # A unix socket's path has 107 bytes at most: a deep run directory is reached
        # through a short symbolic link for the sockets (OVS_RUNDIR) instead.
        self.sockdir = (self.rundir if len(str(self.rundir)) <= SOCKET_DIR_MAX else
                        SHORT_LINKS / hashlib.sha256(bytes(self.rundir)).hexdigest()[:12])
        self.db_sock = self.sockdir / "db.sock"
        self.db_file = self.rundir / "conf.db"
        self._started: list[tuple[str, int]] = []  # started or adopted: stop() ends them
        self._adopted: set[str] = set()

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for var in ("OVS_DBDIR", "OVS_LOGDIR", "OVS_SYSCONFDIR"):
            env[var] = str(self.rundir)
        env["OVS_RUNDIR"] = str(self.sockdir)
        return env

    @property
    def db_remote(self) -> str:
        return f"unix:{self.db_sock}"

    def mgmt_socket(self, bridge: str) -> Path:
        return self.sockdir / f"{bridge}.mgmt"

    def _link_sockdir(self) -> None:
        if self.sockdir == self.rundir:
            return
        self.sockdir.parent.mkdir(parents=True, exist_ok=True)
        if self.sockdir.is_symlink() and self.sockdir.resolve() != self.rundir:
            self.sockdir.unlink()  # a stale link of a run directory that is gone
        if not self.sockdir.is_symlink():
            self.sockdir.symlink_to(self.rundir, target_is_directory=True)

    def _unlink_sockdir(self) -> None:
        if self.sockdir != self.rundir and self.sockdir.is_symlink():
            self.sockdir.unlink()

    def _pidfile(self, daemon: str) -> Path:
        return self.rundir / f"{daemon}.pid"

    def running(self, daemon: str) -> int | None:
        """The PID of `daemon` serving this run directory: its pidfile's, alive, with this
        run directory on its command line (a PID the kernel gave another process since
        is not it)."""
        pid = _read_pid(self._pidfile(daemon))
        if pid is None or not _alive(pid) or f"{self.rundir}/" not in _cmdline(pid):
            return None
        return pid

    def start(self, timeout: float = 10.0) -> None:
        """Start (or adopt) what does not run; again after a daemon died, only that one."""
        self._forget_dead()
        self.rundir.mkdir(parents=True, exist_ok=True)
        self._link_sockdir()
        for daemon in DAEMONS:
            pid = self.running(daemon)
            if pid is not None and all(d != daemon for d, _ in self._started):
                log.info("%s: %s (pid %d) is running already: adopted", self.rundir, daemon,
                         pid)
                self._started.append((daemon, pid))
                self._adopted.add(daemon)
        self._check_datapath()
        if self.running("ovsdb-server") is None:
            if not self.db_file.exists():
                subprocess.run([_tool("ovsdb-tool"), "create", str(self.db_file), str(SCHEMA)],
                               check=True, env=self.env, capture_output=True)
            self._spawn("ovsdb-server", [
                _tool("ovsdb-server"), str(self.db_file),
                f"--remote=punix:{self.db_sock}",
                f"--pidfile={self._pidfile('ovsdb-server')}",
                f"--log-file={self.rundir / 'ovsdb-server.log'}",
                f"--unixctl={self.sockdir / 'ovsdb-server.ctl'}",
                "--detach", "--no-chdir"])
            self._wait_for(self.db_sock, timeout)
            subprocess.run([_tool("ovs-vsctl"), f"--db={self.db_remote}", "--no-wait",
                            "init"], check=True, env=self.env, capture_output=True)
        if self.running("ovs-vswitchd") is None:
            where = [_tool("ip"), "netns", "exec", self.netns] if self.netns else []
            binary = _tool("ovs-vswitchd") if self.dpdk is None else self.dpdk.prepare(self)
            self._spawn("ovs-vswitchd", [
                *where, binary, self.db_remote,
                f"--pidfile={self._pidfile('ovs-vswitchd')}",
                f"--log-file={self.rundir / 'ovs-vswitchd.log'}",
                f"--unixctl={self.vswitchd_ctl}",
                "--detach", "--no-chdir", "-vconsole:off"])
            self._wait_for(self.vswitchd_ctl, timeout)
            if self.dpdk is not None:
                self.dpdk.check_started(self)

    def _check_datapath(self) -> None:
        """An adopted ovs-vswitchd must be the build asked for (its ports are of its kind)."""
        pid = self.running("ovs-vswitchd")
        if pid is not None and is_dpdk_vswitchd(_cmdline(pid)) != (self.dpdk is not None):
            running = "DPDK" if self.dpdk is None else "plain (netdev)"
            raise OvsError(f"{self.rundir}: the {running} ovs-vswitchd (pid {pid}) runs "
                           "there: stop it first (`ctrl lab down`, or the target that "
                           "left it) or ask for its datapath")

    def _forget_dead(self) -> None:
        """A daemon that died is no longer ours to stop (its PID may be another's soon)."""
        self._started = [(d, pid) for d, pid in self._started if self.running(d) == pid]
        self._adopted &= {d for d, _ in self._started}

    @property
    def vswitchd_ctl(self) -> Path:
        return self.sockdir / "ovs-vswitchd.ctl"

    def _spawn(self, daemon: str, argv: list[str]) -> None:
        log.info("%s: starting %s", self.rundir, daemon)
        proc = subprocess.run(argv, env=self.env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise OvsError(f"{daemon} did not start: {proc.stderr.strip()}")
        pid = self.running(daemon)
        if pid is None:
            raise OvsError(f"{daemon} started but wrote no pidfile under {self.rundir}")
        self._started.append((daemon, pid))

    @staticmethod
    def _wait_for(path: Path, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not path.exists():
            if time.monotonic() > deadline:
                raise OvsError(f"{path} did not appear within {timeout} s")
            time.sleep(0.02)

    def _delete_bridges(self) -> None:
        """`ovs-vsctl list-br`, then `del-br` each: the database is ours alone, and a
        netdev bridge's kernel devices outlive ovs-vswitchd unless it removes them."""
        vsctl = [_tool("ovs-vsctl"), f"--db={self.db_remote}", "--timeout=10"]
        bridges = self.list_bridges()
        if bridges:
            argv = list(vsctl)
            for i, br in enumerate(bridges):
                argv += (["--"] if i else []) + ["--if-exists", "del-br", br]
            done = subprocess.run(argv, env=self.env, capture_output=True, text=True,
                                  check=False)
            if done.returncode != 0:
                log.warning("%s: could not delete bridges: %s", self.rundir, done.stderr.strip())

    def list_bridges(self) -> list[str]:
        """`ovs-vsctl list-br`"""
        out = subprocess.run([_tool("ovs-vsctl"), f"--db={self.db_remote}", "--timeout=10",
                              "list-br"], env=self.env, capture_output=True, text=True,
                             check=False)
        return out.stdout.split() if out.returncode == 0 else []

    def stop(self, timeout: float = 10.0, keep: bool = False, keep_adopted: bool = False
             ) -> None:
        """End the daemons this object started or adopted (by PID), vswitchd first, after
        removing the bridges of its own database; `keep`: leave them all running;
        `keep_adopted`: end only those it started (a start that failed leaves an earlier
        target's daemons forwarding as they were)."""
        self._forget_dead()   # a dead ovs-vswitchd: no del-br waiting for it to answer
        left = bool(self._adopted) and keep_adopted  # their sockets stay reachable
        if keep_adopted:
            self._started = [(d, pid) for d, pid in self._started if d not in self._adopted]
        if keep:
            self._started.clear()
        self._adopted.clear()
        if not self._started:
            return
        if any(daemon == "ovs-vswitchd" for daemon, _ in self._started):
            self._delete_bridges()
        for daemon, pid in sorted(self._started, key=lambda d: d[0] != "ovs-vswitchd"):
            log.info("%s: stopping %s (pid %d)", self.rundir, daemon, pid)
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if not left:
            self._unlink_sockdir()
        self._started.clear()

    def __enter__(self) -> OvsDaemons:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_rundir(path: Path) -> list[str]:
    """Stop the OVS daemons of every run directory in or under `path` (by their pidfiles,
    each process checked to name its run directory), bridges deleted first; what was
    stopped, as "DIR: DAEMON (pid N)"."""
    said = []
    dirs = sorted({p.parent for d in DAEMONS for p in Path(path).rglob(f"{d}.pid")})
    for rundir in dirs:
        daemons = OvsDaemons(rundir)
        found = [(d, pid) for d in DAEMONS if (pid := daemons.running(d)) is not None]
        if not found:
            continue
        daemons._started = found
        daemons.stop(timeout=5.0)
        said += [f"{rundir}: {d} (pid {pid})" for d, pid in found]
        for journal in rundir.glob(JOURNALS):  # what the bridges held: gone with them
            journal.unlink(missing_ok=True)
    return said
