"""Bridge and port configuration through ovs-vsctl argv lists (configuration only).

Each helper names, in its docstring, the `ovs-vsctl` command it stands for, in
the manner of os-ken's OVSBridge. Writes never come through here: they go over
OpenFlow (ctrl.targets.ovs.openflow); these run once per bridge or port.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence

from ctrl.targets.ovs.daemon import OvsDaemons, _tool
from ctrl.targets.ovs.errors import OvsError

log = logging.getLogger(__name__)

OPENFLOW_VERSIONS = "OpenFlow13,OpenFlow14,OpenFlow15"


class OvsBridge:
    """One bridge of the userspace (netdev) datapath."""

    def __init__(self, daemons: OvsDaemons, name: str) -> None:
        self.daemons = daemons
        self.name = name

    def vsctl(self, *commands: Sequence[str]) -> str:
        """`ovs-vsctl CMD1 -- CMD2 -- ...`: many commands, one transaction, one process."""
        argv = [_tool("ovs-vsctl"), f"--db={self.daemons.db_remote}", "--timeout=20"]
        for i, cmd in enumerate(commands):
            if i:
                argv.append("--")
            argv.extend(cmd)
        proc = subprocess.run(argv, env=self.daemons.env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise OvsError(f"bridge {self.name}: ovs-vsctl failed: {proc.stderr.strip()}")
        return proc.stdout

    def create(self) -> None:
        """`ovs-vsctl --may-exist add-br BR -- set bridge BR datapath_type=netdev
        fail_mode=secure protocols=... other-config:disable-in-band=true`"""
        self.vsctl(["--may-exist", "add-br", self.name],
                   ["set", "bridge", self.name, "datapath_type=netdev", "fail_mode=secure",
                    f"protocols={OPENFLOW_VERSIONS}",
                    "other-config:disable-in-band=true"])
        log.info("bridge %s: ready (netdev datapath)", self.name)

    def delete(self) -> None:
        """`ovs-vsctl --if-exists del-br BR`"""
        self.vsctl(["--if-exists", "del-br", self.name])

    def add_port(self, ifname: str, ofport: int, *, kind: str | None = None,
                 options: Sequence[str] = ()) -> None:
        """`ovs-vsctl add-port BR IF -- set interface IF ofport_request=N [type=K options:...]`"""
        sets = [f"ofport_request={ofport}"]
        if kind is not None:
            sets.append(f"type={kind}")
        sets.extend(options)
        self.vsctl(["--may-exist", "add-port", self.name, ifname],
                   ["set", "interface", ifname, *sets])
        got = self.ofport(ifname)
        if got != ofport:
            raise OvsError(f"bridge {self.name}: {ifname} got OpenFlow port {got}, not {ofport}")

    def add_gre_port(self, ifname: str, ofport: int) -> None:
        """`ovs-vsctl add-port BR IF -- set interface IF type=gre options:remote_ip=flow
        options:local_ip=flow options:key=flow options:df_default=false options:ttl=64
        options:tos=0 options:csum=false ofport_request=N`

        The outer header as mobility.p4 writes it: no DF, TTL 64, TOS 0, no checksum
        (OVS's userspace tunneling sets IP id 0).
        """
        self.add_port(ifname, ofport, kind="gre",
                      options=["options:remote_ip=flow", "options:local_ip=flow",
                               "options:key=flow", "options:df_default=false",
                               "options:ttl=64", "options:tos=0", "options:csum=false"])

    def add_patch(self, ifname: str, ofport: int, other: OvsBridge, peer: str,
                  peer_ofport: int) -> None:
        """`ovs-vsctl add-port BR IF -- set interface IF type=patch options:peer=PEER
        ofport_request=N`, and the same for PEER on the other bridge."""
        self.add_port(ifname, ofport, kind="patch", options=[f"options:peer={peer}"])
        other.add_port(peer, peer_ofport, kind="patch", options=[f"options:peer={ifname}"])

    def mac(self) -> int:
        """`ovs-vsctl get interface BR mac_in_use`: the MAC of the bridge's LOCAL port."""
        text = self.vsctl(["get", "interface", self.name, "mac_in_use"]).strip().strip('"')
        return int(text.replace(":", ""), 16)

    def del_port(self, ifname: str) -> None:
        """`ovs-vsctl --if-exists del-port BR IF`"""
        self.vsctl(["--if-exists", "del-port", self.name, ifname])

    def ofport(self, ifname: str) -> int:
        """`ovs-vsctl get interface IF ofport`"""
        return int(self.vsctl(["get", "interface", ifname, "ofport"]).strip())

    def list_ports(self) -> list[str]:
        """`ovs-vsctl list-ports BR`"""
        return self.vsctl(["list-ports", self.name]).split()

    def exists(self) -> bool:
        """`ovs-vsctl br-exists BR`"""
        argv = [_tool("ovs-vsctl"), f"--db={self.daemons.db_remote}", "br-exists", self.name]
        return subprocess.run(argv, env=self.daemons.env, capture_output=True).returncode == 0

    def uuid(self) -> str:
        """`ovs-vsctl get bridge BR _uuid`: its row's identity (a bridge made anew has
        another, and none of the old one's flows)."""
        return self.vsctl(["get", "bridge", self.name, "_uuid"]).strip()

    def keep_only_ports(self, wanted: set[str]) -> list[str]:
        """`ovs-vsctl del-port BR IF` for each port not in `wanted` (an earlier run's);
        the ports deleted."""
        extra = sorted(set(self.list_ports()) - wanted)
        if extra:
            self.vsctl(*(["--if-exists", "del-port", self.name, p] for p in extra))
            log.info("bridge %s: ports of an earlier run deleted: %s", self.name,
                     ", ".join(extra))
        return extra
