"""Starting and stopping bmv2 `simple_switch_grpc`, the reference P4 target.

    simple_switch_grpc --no-p4 --device-id D -i 1@IF1 -i 2@IF2 ... \
        -- --grpc-server-addr 127.0.0.1:PORT --cpu-port 255

The switch starts without a program; the controller pushes mobility.json and
the P4Info with SetForwardingPipelineConfig.

A switch that was killed starts again with `start()`: the same gRPC port (once
nothing listens there any more: a process still dying would otherwise pass for the
new one), the same interfaces, its notifications socket made anew, its output
appended to the same log after a line that marks the run. bmv2 keeps no state: the
controller that reconnects finds no pipeline and pushes everything again.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ctrl.errors import MobilityError

log = logging.getLogger(__name__)

SIMPLE_SWITCH_GRPC = "simple_switch_grpc"
CPU_PORT = 255


class Bmv2Error(MobilityError, RuntimeError):
    """simple_switch_grpc is missing, or did not come up."""


def find_simple_switch_grpc() -> str | None:
    return os.environ.get("SIMPLE_SWITCH_GRPC") or shutil.which(SIMPLE_SWITCH_GRPC)


def free_tcp_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _listening(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def wait_until_free(host: str, port: int, timeout: float) -> None:
    """Until nothing listens on host:port (a switch killed a moment ago lets go of it)."""
    deadline = time.monotonic() + timeout
    while _listening(host, port):
        if time.monotonic() > deadline:
            raise Bmv2Error(f"{host}:{port} is in use by another process")
        time.sleep(0.05)


def wait_for_tcp(host: str, port: int, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Bmv2Error(f"{SIMPLE_SWITCH_GRPC} exited with {proc.returncode} while starting")
        if _listening(host, port):
            return
        time.sleep(0.05)
    raise Bmv2Error(f"{SIMPLE_SWITCH_GRPC} did not listen on {host}:{port} in {timeout} s")


@functools.cache
def _has_option(binary: str, option: str) -> bool:
    """Whether this simple_switch_grpc build takes `option` (builds differ: nanomsg,
    Thrift). Asked once per binary."""
    try:
        out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10,
                             check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return option in out.stdout + out.stderr


def bmv2_argv(binary: str, ports: Mapping[int, str], device_id: int, grpc_addr: str,
              ipc: Path) -> list[str]:
    """The command line of one switch: no program yet, these ports, gRPC on `grpc_addr`,
    no Thrift server, its notifications socket at the private path `ipc`."""
    argv = [binary, "--no-p4", "--device-id", str(device_id)]
    if os.environ.get("BMV2_LOG"):  # packet-by-packet trace into the log, for debugging
        argv += ["--log-console", "-L", os.environ["BMV2_LOG"]]
    for number, ifname in sorted(ports.items()):
        argv += ["-i", f"{number}@{ifname}"]
    if _has_option(binary, "--notifications-addr"):  # builds with nanomsg only
        argv += ["--notifications-addr", f"ipc://{ipc}"]
    return [*argv, "--", "--grpc-server-addr", grpc_addr, "--cpu-port", str(CPU_PORT)]


@dataclass
class Bmv2Switch:
    """One simple_switch_grpc process; `ports` maps P4 port numbers to interface names."""

    ports: Mapping[int, str]
    device_id: int = 1
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 0
    log_file: Path | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def grpc_addr(self) -> str:
        return f"{self.grpc_host}:{self.grpc_port}"

    def start(self, timeout: float = 20.0) -> None:
        binary = find_simple_switch_grpc()
        if binary is None:
            raise Bmv2Error(f"{SIMPLE_SWITCH_GRPC} is not on PATH (nor named by "
                            "$SIMPLE_SWITCH_GRPC); it comes from the p4lang behavioral-model")
        if self.proc is not None:
            if self.proc.poll() is None:
                raise Bmv2Error(f"{SIMPLE_SWITCH_GRPC} on {self.grpc_addr} is running already")
            self.proc = None  # killed: reaped, and started again below
        if not self.grpc_port:
            self.grpc_port = free_tcp_port(self.grpc_host)
        wait_until_free(self.grpc_host, self.grpc_port, timeout)
        ipc = Path(tempfile.gettempdir()) / f"bmv2-{os.getpid()}-{self.grpc_port}.ipc"
        ipc.unlink(missing_ok=True)  # an earlier run's, killed before it removed it
        argv = bmv2_argv(binary, self.ports, self.device_id, self.grpc_addr, ipc)
        log.info("starting %s", " ".join(argv))
        if self.log_file is not None:
            with self.log_file.open("ab") as out:
                out.write(f"--- {SIMPLE_SWITCH_GRPC} started: {time.strftime('%F %T')}: "
                          f"{' '.join(argv)}\n".encode())
                self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                             start_new_session=True)
        else:
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for_tcp(self.grpc_host, self.grpc_port, timeout, self.proc)
        except Bmv2Error:
            self.stop()
            raise

    def stop(self, timeout: float = 5.0) -> None:
        """End the process we started (by its PID only)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
