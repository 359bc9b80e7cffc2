"""An etcd server as a process of our own: its data dir, loopback client and peer ports,
stopped by its PID. For the tests and the lab; never the system's etcd service.

The election and heartbeat are shortened (500 ms / 50 ms) so that etcd grants leases of
one second: its shortest lease is 1.5 election timeouts, 3 s by default.
"""

from __future__ import annotations

import contextlib
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

ETCD = "etcd"


class EtcdProcessError(MobilityError, RuntimeError):
    """etcd is not installed, or did not start."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def find_etcd() -> str | None:
    return shutil.which(ETCD)


class EtcdProcess:
    """`with EtcdProcess(data_dir) as etcd: etcd.url` -- one member, loopback only."""

    def __init__(self, data_dir: Path, client_port: int | None = None,
                 peer_port: int | None = None, name: str = "ctrl-etcd",
                 log: Path | None = None) -> None:
        self.data_dir = data_dir
        self.client_port = client_port or free_port()
        self.peer_port = peer_port or free_port()
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

    def start(self, timeout: float = 15.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv(), stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EtcdProcessError(f"etcd exited with {self.proc.returncode}; see {self.log}")
            if self.healthy():
                return
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
