"""A hypervisor's virtual switch beside a P4 bridge: a plain learning bridge (OVS's NORMAL
action) in the same ovs-vswitchd, patched to one P4 port of that bridge.

This is where QEMU guests on vhost-user ports live on the DPDK datapath
(`ctrl lab up --guests qemu --datapath dpdk`): the guest's NIC is a
`dpdkvhostuserclient` port of its hypervisor's virtual switch, and the P4 switch
sees the hypervisor behind one port, as it does a hypervisor's Linux bridge on a
veth otherwise. Guests come and go (their ports are added and removed by whoever
runs them, `ctrl lab`); the bridge, its patch and its own interfaces (`ports`: the
veth to the hypervisor's namespace, DPDK ports on the DPDK datapath) are the
target's, made again as they are on a restart, the guests' ports left alone.

    ovs-vsctl --may-exist add-br HV -- set bridge HV datapath_type=netdev \\
        fail_mode=standalone
    ovs-vsctl add-port P4BR P4IF -- set interface P4IF type=patch options:peer=HV-p4 \\
        ofport_request=PORT            (and HV-p4 on HV, its peer)
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from ctrl.targets.ovs.dpdk import DpdkConfig
from ctrl.targets.ovs.ovsdb import Transaction

UPLINK_OFPORT = 1     # the patch's end on the virtual switch
FIRST_OFPORT = 2      # its own interfaces from here


@dataclass(frozen=True, slots=True)
class VSwitchSpec:
    """Bridge `name`, patched to P4 port `port` of the P4 bridge it is given with (its
    end there named `p4_ifname`), with interfaces `ports` of its own."""

    name: str
    port: int
    p4_ifname: str
    ports: tuple[str, ...] = ()

    @property
    def patch(self) -> str:
        """The patch's end on the virtual switch."""
        return f"{self.name}-p4"


def p4_end(name: str) -> str:
    """The name of the patch's end on the P4 bridge, for virtual switch `name`."""
    return f"{name}-up"


def configure(tx: Transaction, p4_bridge: str, vswitch: VSwitchSpec,
              dpdk: DpdkConfig | None) -> None:
    """The virtual switch, its patch to `p4_bridge` and its own interfaces, into `tx`."""
    tx.add_bridge(vswitch.name)
    # Standalone with no controller: OVS forwards with NORMAL (learning, flooding).
    tx.commands.append(["set", "bridge", vswitch.name, "fail_mode=standalone"])
    tx.add_patch(p4_bridge, vswitch.p4_ifname, vswitch.port, vswitch.name, vswitch.patch,
                 UPLINK_OFPORT)
    for n, ifname in enumerate(vswitch.ports, start=FIRST_OFPORT):
        kind, options = (None, []) if dpdk is None else dpdk.port_options(ifname)
        tx.add_port(vswitch.name, ifname, n, kind=kind, options=options)


def parse(text: str) -> tuple[str, VSwitchSpec]:
    """`NAME=BRIDGE:PORT[,IF...]` (the --vswitch flag) -> (BRIDGE, spec); its patch's end
    on BRIDGE is named NAME-up."""
    # here, not above: every `ctrl` command imports this module (the lab's parser), and
    # ctrl.platform.netns imports pyroute2 (0.1 s of CPU, for `ctrl serve` too)
    from ctrl.platform.netns import IFNAMSIZ

    name, sep, rest = text.partition("=")
    where, _, ifs = rest.partition(",")
    bridge, _, port = where.rpartition(":")
    if not sep or not name or not bridge or not port.isdigit() or int(port) == 0:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected NAME=BRIDGE:PORT[,IF...], e.g. hv1=s1:2,hv1-uplink")
    if len(name) + 3 > IFNAMSIZ:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a virtual switch's name has at most {IFNAMSIZ - 3} characters")
    ports = tuple(i for i in ifs.split(",") if i)
    return bridge, VSwitchSpec(name, int(port), p4_end(name), ports)
