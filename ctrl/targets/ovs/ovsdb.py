"""Bridge and port configuration through ovs-vsctl argv lists (configuration only).

Each helper names, in its docstring, the `ovs-vsctl` command it stands for, in
the manner of os-ken's OVSBridge. A `Transaction` gathers the commands of many
bridges and ports and runs them as one ovs-vsctl process and one OVSDB
transaction (mininet's batching), then checks every port's OpenFlow number in one
more: 80 bridges and 500 ports take seconds, not minutes. Every command may
find its object there already (`--may-exist`, `set` of the same values: no
change), so a target started again on an earlier run's bridges changes nothing
that forwards. Writes never come through here: they go over OpenFlow
(ctrl.targets.ovs.openflow).
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence

from ctrl.targets.ovs.daemon import OvsDaemons, _tool
from ctrl.targets.ovs.errors import OvsError

log = logging.getLogger(__name__)

OPENFLOW_VERSIONS = "OpenFlow13,OpenFlow14,OpenFlow15"
GRE_OPTIONS = ("options:remote_ip=flow", "options:local_ip=flow", "options:key=flow",
               "options:df_default=false", "options:ttl=64", "options:tos=0",
               "options:csum=false")

Command = list[str]


def vsctl(daemons: OvsDaemons, *commands: Sequence[str], what: str = "ovs-vsctl") -> str:
    """`ovs-vsctl CMD1 -- CMD2 -- ...`: many commands, one transaction, one process."""
    argv = [_tool("ovs-vsctl"), f"--db={daemons.db_remote}", "--timeout=60"]
    for i, cmd in enumerate(commands):
        if i:
            argv.append("--")
        argv.extend(cmd)
    proc = subprocess.run(argv, env=daemons.env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise OvsError(f"{what}: ovs-vsctl failed: {proc.stderr.strip()}")
    return proc.stdout


class Transaction:
    """Commands of many bridges and ports, run at once by `commit()`."""

    def __init__(self, daemons: OvsDaemons) -> None:
        self.daemons = daemons
        self.commands: list[Command] = []
        self.ofports: dict[str, int] = {}  # interface -> the OpenFlow port it must get

    def add_bridge(self, name: str) -> None:
        """`ovs-vsctl --may-exist add-br BR -- set bridge BR datapath_type=netdev
        fail_mode=secure protocols=... other-config:disable-in-band=true`"""
        self.commands += [["--may-exist", "add-br", name],
                          ["set", "bridge", name, "datapath_type=netdev", "fail_mode=secure",
                           f"protocols={OPENFLOW_VERSIONS}",
                           "other-config:disable-in-band=true"]]

    def add_port(self, bridge: str, ifname: str, ofport: int, *, kind: str | None = None,
                 options: Sequence[str] = ()) -> None:
        """`ovs-vsctl --may-exist add-port BR IF -- set interface IF ofport_request=N
        [type=K options:...]`"""
        sets = [f"ofport_request={ofport}", *([f"type={kind}"] if kind else []), *options]
        self.commands += [["--may-exist", "add-port", bridge, ifname],
                          ["set", "interface", ifname, *sets]]
        self.ofports[ifname] = ofport

    def add_gre_port(self, bridge: str, ifname: str, ofport: int) -> None:
        """`ovs-vsctl add-port BR IF -- set interface IF type=gre options:remote_ip=flow
        options:local_ip=flow options:key=flow options:df_default=false options:ttl=64
        options:tos=0 options:csum=false ofport_request=N`

        The outer header as mobility.p4 writes it: no DF, TTL 64, TOS 0, no checksum
        (OVS's userspace tunneling sets IP id 0).
        """
        self.add_port(bridge, ifname, ofport, kind="gre", options=GRE_OPTIONS)

    def add_patch(self, bridge: str, ifname: str, ofport: int, other: str, peer: str,
                  peer_ofport: int) -> None:
        """`ovs-vsctl add-port BR IF -- set interface IF type=patch options:peer=PEER
        ofport_request=N`, and the same for PEER on the other bridge."""
        self.add_port(bridge, ifname, ofport, kind="patch", options=[f"options:peer={peer}"])
        self.add_port(other, peer, peer_ofport, kind="patch",
                      options=[f"options:peer={ifname}"])

    def delete_bridge(self, name: str) -> None:
        """`ovs-vsctl --if-exists del-br BR`"""
        self.commands.append(["--if-exists", "del-br", name])

    def delete_port(self, bridge: str, ifname: str) -> None:
        """`ovs-vsctl --if-exists del-port BR IF`"""
        self.commands.append(["--if-exists", "del-port", bridge, ifname])

    def commit(self) -> None:
        """Run it all as one transaction, then check that each port got its number."""
        if not self.commands:
            return
        vsctl(self.daemons, *self.commands, what=str(self.daemons.rundir))
        self.commands.clear()
        if self.ofports:
            got = ofports(self.daemons)
            for ifname, want in self.ofports.items():
                if got.get(ifname) != want:
                    why = interface_error(self.daemons, ifname)
                    raise OvsError(f"{ifname} got OpenFlow port {got.get(ifname)}, not {want}"
                                   + (f": {why}" if why else ""))
            self.ofports.clear()


def ofports(daemons: OvsDaemons) -> dict[str, int]:
    """`ovs-vsctl --columns=name,ofport --format=csv --no-headings list interface`"""
    out: dict[str, int] = {}
    text = vsctl(daemons, ["--columns=name,ofport", "--format=csv", "--no-headings", "list",
                           "interface"], what=str(daemons.rundir))
    for line in text.splitlines():
        name, _, port = line.rpartition(",")
        try:
            out[name.strip('"')] = int(port)
        except ValueError:
            continue
    return out


def interface_error(daemons: OvsDaemons, ifname: str) -> str:
    """`ovs-vsctl get interface IF error`: why OVS could not open it ("" if it says
    nothing), e.g. a DPDK port's "Failed to create mempool ..."."""
    try:
        text = vsctl(daemons, ["get", "interface", ifname, "error"], what=ifname).strip()
    except OvsError:
        return ""
    return "" if text in ("[]", "") else text.strip('"')


class OvsBridge:
    """One bridge of the userspace (netdev) datapath."""

    def __init__(self, daemons: OvsDaemons, name: str) -> None:
        self.daemons = daemons
        self.name = name

    def vsctl(self, *commands: Sequence[str]) -> str:
        return vsctl(self.daemons, *commands, what=f"bridge {self.name}")

    def create(self) -> None:
        """`ovs-vsctl --may-exist add-br BR -- set bridge BR datapath_type=netdev ...`"""
        tx = Transaction(self.daemons)
        tx.add_bridge(self.name)
        tx.commit()

    def delete(self) -> None:
        """`ovs-vsctl --if-exists del-br BR`"""
        self.vsctl(["--if-exists", "del-br", self.name])

    def add_port(self, ifname: str, ofport: int) -> None:
        """`ovs-vsctl add-port BR IF -- set interface IF ofport_request=N`"""
        tx = Transaction(self.daemons)
        tx.add_port(self.name, ifname, ofport)
        tx.commit()

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


def bridge_uuids(daemons: OvsDaemons) -> dict[str, str]:
    """`ovs-vsctl --columns=name,_uuid --format=csv --no-headings list bridge`"""
    text = vsctl(daemons, ["--columns=name,_uuid", "--format=csv", "--no-headings", "list",
                           "bridge"], what=str(daemons.rundir))
    out = {}
    for line in text.splitlines():
        name, _, uuid = line.rpartition(",")
        out[name.strip('"')] = uuid
    return out
