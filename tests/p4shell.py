"""p4runtime-shell in a process of its own (tests/p4shell_drive.py in .venv-p4shell),
driven over a pipe: the compatibility tests and the write benchmark talk to our targets
through it over the wire."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ctrl.p4rt.build import BuildPaths
from ctrl.p4rt.entity import TableEntry

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).with_name("p4shell_drive.py")


class ShellError(Exception):
    """The shell's process answered with an error, or is gone."""


def shell_python() -> Path | None:
    """The side virtualenv's python (P4SHELL_PYTHON overrides), None where there is none."""
    path = Path(os.environ.get("P4SHELL_PYTHON", ROOT / ".venv-p4shell" / "bin" / "python"))
    return path if path.exists() else None


def triples(entries: Sequence[TableEntry]) -> list[list[int]]:
    """bridging.forward entries as the driver takes them: [vnet_id, eth_dst, port]."""
    return [[int(e.match["vnet_id"]), int(e.match["eth_dst"]), int(e.params["port"])]
            for e in entries]


class Shell:
    """One p4runtime-shell process; `call` sends one request and waits for its answer."""

    def __init__(self, python: Path, paths: BuildPaths) -> None:
        self._proc = subprocess.Popen(
            [str(python), "-P", str(SCRIPT), str(paths.p4info), str(paths.json)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def call(self, op: str, **args: Any) -> Any:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise ShellError(f"the shell's process ended (exit {self._proc.wait()})")
        answer = json.loads(line)
        if "error" in answer:
            raise ShellError(answer["error"])
        return answer["ok"]

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> Shell:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Session:
    """The benchmarks' shell: one connection at a time, as primary (election id 1) with
    mobility.p4: `reconnect()` before each round (setting the pipeline again), `close()`
    after; `insert_bridging` one Write per entry."""

    def __init__(self, python: Path, grpc_addr: str, device_id: int, paths: BuildPaths) -> None:
        self.grpc_addr, self.device_id = grpc_addr, device_id
        self.shell = Shell(python, paths)
        self._open = False

    def reconnect(self) -> None:
        self.disconnect()
        self.shell.call("connect", addr=self.grpc_addr, device_id=self.device_id)
        self._open = True

    def disconnect(self) -> None:
        if self._open:
            self.shell.call("close")
            self._open = False

    def insert_bridging(self, entries: list[list[int]]) -> None:
        self.shell.call("insert", entries=entries)

    def close(self) -> None:
        self.disconnect()
        self.shell.close()
