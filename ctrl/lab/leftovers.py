"""What of a lab is still there after `ctrl lab down`: checked, not assumed.

Namespaces of the lab, processes whose command line names its state directory (its
targets, controllers, etcd, ovsdb-server, ovs-vswitchd, QEMU), interfaces of its links
and switch ports in the root namespace, and OVS journals. The bridges and their ports
live in the sites' namespaces, and go with them.
"""

from __future__ import annotations

import os
from pathlib import Path

from ctrl.lab.spec import LabSpec
from ctrl.lab.state import LabState
from ctrl.platform import netns


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _ancestry() -> set[int]:
    """This process and those above it (`ctrl lab down` itself, a `timeout` or a shell that
    runs it: their command lines name the state directory too)."""
    out, pid = set(), os.getpid()
    while pid > 1 and pid not in out:
        out.add(pid)
        pid = _parent(pid)
    return out


def processes_naming(state_dir: Path) -> list[str]:
    """Live processes (not zombies) whose command line names `state_dir`, from /proc; the
    process asking and its ancestors are not counted."""
    out = []
    needle = str(state_dir.resolve())
    mine = _ancestry()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) in mine:
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if needle in cmd and stat != "Z":
            out.append(f"pid {pid}: {cmd[:160]}")
    return out


def left_behind(spec: LabSpec, state: LabState, links: list[tuple[str | None, str]]
                ) -> list[str]:
    """Everything of the lab still there; `links`: the root-namespace links it made (the
    state forgets them as `down` removes them)."""
    out = [f"namespace {ns}" for ns in netns.list_netns()
           if ns in spec.namespaces() or ns.startswith(f"{spec.name}-")]
    out += processes_naming(state.dir)
    out += [f"interface {ifname}" for _, ifname in links if netns.link_exists(ifname)]
    out += [f"interface {ifname}" for sw in spec.switches.values()
            for ifname in sw.ports.values() if netns.link_exists(ifname)]
    out += [f"journal {j}" for j in state.dir.rglob("*.journal")]
    return out
