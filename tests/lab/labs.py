"""Labs for tests: each carries a name of its own, so that a lab left by a crashed run (its
namespaces outlive the process) cannot collide with the next run, nor with a lab a person
has up on the same machine."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from ctrl.lab.cli import read_topology
from ctrl.lab.spec import LabSpec
from ctrl.lab.state import LabState
from ctrl.platform import netns
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


def processes_naming(state_dir: Path) -> list[str]:
    """Processes whose command line names the lab's state directory (its targets, the
    controller, ovsdb-server, ovs-vswitchd, QEMU), found in /proc, not in the state."""
    out = []
    needle = str(state_dir.resolve())
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if needle in cmd and state != "Z":
            out.append(f"pid {pid}: {cmd[:160]}")
    return out


def left_behind(spec: LabSpec, state: LabState) -> list[str]:
    """What of the lab is still there: checked, not assumed (namespaces, processes,
    root-namespace interfaces of its links and switches, journals)."""
    out = [f"namespace {ns}" for ns in netns.list_netns()
           if ns in spec.namespaces() or ns.startswith(f"{spec.name}-")]
    out += processes_naming(state.dir)
    out += [f"interface {ifname}" for _, ifname in state.links if netns.link_exists(ifname)]
    out += [f"interface {ifname}" for sw in spec.switches.values()
            for ifname in sw.ports.values() if netns.link_exists(ifname)]
    out += [f"journal {j}" for j in state.dir.rglob("*.journal")]
    return out
