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


def processes_naming(state_dir: Path) -> list[str]:
    """Live processes (not zombies) whose command line names `state_dir`, from /proc."""
    out = []
    needle = str(state_dir.resolve())
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
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
