"""An etcd server as a process of our own: its data dir, loopback client and peer ports,
stopped by its PID. For the tests and the lab; never the system's etcd service.

The election and heartbeat are shortened (500 ms / 50 ms) so that etcd grants leases of
one second: its shortest lease is 1.5 election timeouts, 3 s by default.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from ctrl.errors import MobilityError

log = logging.getLogger(__name__)

ETCD = "etcd"


class EtcdProcessError(MobilityError, RuntimeError):
    """etcd is not installed, or did not start."""


PORT_TAKEN = "bind: address already in use"
ATTEMPTS = 3   # each on new ports, when the last one's were taken before etcd listened


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` different loopback ports free now (held together while picked). Another
    socket can still take one before the process it is for listens: see `lost_its_port`."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def log_size(log: Path) -> int:
    try:
        return log.stat().st_size
    except OSError:
        return 0


def lost_its_port(log: Path, since: int) -> bool:
    """Whether the etcd that wrote `log` from byte `since` on exited because a port it was
    given had been taken between picking it and listening on it."""
    try:
        with log.open("rb") as f:
            f.seek(since)
            return PORT_TAKEN.encode() in f.read()
    except OSError:
        return False


def find_etcd() -> str | None:
    return shutil.which(ETCD)


class EtcdProcess:
    """`with EtcdProcess(data_dir) as etcd: etcd.url` -- one member, loopback only."""

    def __init__(self, data_dir: Path, client_port: int | None = None,
                 peer_port: int | None = None, name: str = "ctrl-etcd",
                 log: Path | None = None) -> None:
        self.data_dir = data_dir
        picked = free_ports(2)
        self.client_port = client_port or picked[0]
        self.peer_port = peer_port or picked[1]
        self.name = name
        self.log = log or data_dir.with_suffix(".log")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def argv(self) -> list[str]:
        exe = find_etcd()
        if exe is None:
            raise EtcdProcessError("etcd is not installed (Debian: apt-get install etcd-server)")
        peer = f"http://127.0.0.1:{self.peer_port}"
        return [exe, "--name", self.name, "--data-dir", str(self.data_dir),
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"{self.name}={peer}",
                "--initial-cluster-state", "new",
                "--heartbeat-interval", "50", "--election-timeout", "500"]

    def new_ports(self) -> None:
        """Other free ports, for another start after `lost_its_port`."""
        self.client_port, self.peer_port = free_ports(2)

    def start(self, timeout: float = 15.0) -> None:
        for attempt in range(1, ATTEMPTS + 1):
            if self._start(timeout, last=attempt == ATTEMPTS):
                return
            log.warning("etcd's port was taken before it listened (%s): again on others",
                        self.log)
            self.new_ports()

    def _start(self, timeout: float, last: bool) -> bool:
        """True once etcd answers; False if it exited for a port taken (and may try again)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        since = log_size(self.log)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv(), stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if not last and lost_its_port(self.log, since):
                    return False
                raise EtcdProcessError(f"etcd exited with {self.proc.returncode}; see {self.log}")
            if self.healthy():
                return True
            time.sleep(0.05)
        self.stop()
        raise EtcdProcessError(f"etcd did not answer on {self.url} in {timeout} s; "
                               f"see {self.log}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=1) as reply:
                return b'"true"' in reply.read()
        except (urllib.error.URLError, OSError):
            return False

    def signal(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM by PID, SIGKILL after `timeout`."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)

    def __enter__(self) -> EtcdProcess:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
