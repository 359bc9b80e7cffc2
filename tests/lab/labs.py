"""Labs for tests: each carries a name of its own, so that a lab left by a crashed run (its
namespaces outlive the process) cannot collide with the next run, nor with a lab a person
has up on the same machine."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from ctrl.lab import leftovers
from ctrl.lab.cli import read_topology
from ctrl.lab.leftovers import processes_naming as processes_naming  # for the tests
from ctrl.lab.spec import LabSpec
from ctrl.lab.state import LabState
from ctrl.targets.bmv2 import free_tcp_port
from ctrl.targets.ovs.dpdk import DpdkConfig

_NAME_LINE = re.compile(r"(?m)^name: .*$")


def unique_name(tmp_path: Path, prefix: str = "t") -> str:
    """A short lab name from the test's own tmp_path (new for every test of every run)."""
    return f"{prefix}{hashlib.sha256(str(tmp_path).encode()).hexdigest()[:6]}"


def renamed(topology: str, name: str) -> tuple[str, str]:
    """(text, origin) of a shipped topology (or fat-tree:K) with its lab named `name`."""
    text, origin = read_topology(topology)
    text, n = _NAME_LINE.subn(f"name: {name}", text, count=1)
    if n == 0:
        text = f"name: {name}\n{text}"
    return text, origin


def new_state(tmp_path: Path, topology: str, prefix: str = "t", *, ports: int = 4,
              guests: str = "netns", dpdk: DpdkConfig | None = None) -> LabState:
    """The state of a fresh lab of `topology` in `tmp_path`/lab, named for this test, on
    free loopback ports (`ports` for the switches, one for the controller's API); on
    DPDK's datapath with `dpdk`."""
    text, origin = renamed(topology, unique_name(tmp_path, prefix))
    return LabState(tmp_path / "lab", text, origin, "ovs",
                    [free_tcp_port() for _ in range(ports)], f"127.0.0.1:{free_tcp_port()}",
                    guests=guests, dpdk=dpdk)


def left_behind(spec: LabSpec, state: LabState) -> list[str]:
    """What of the lab is still there (ctrl/lab/leftovers.py), its links as `state` had
    them."""
    return leftovers.left_behind(spec, state, state.links)
