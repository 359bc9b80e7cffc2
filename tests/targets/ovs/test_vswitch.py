"""A hypervisor's virtual switch beside a P4 bridge: the flag, the commands, and for real
(root, plain OVS): patched to its P4 port and kept, with its guests' ports, across a restart
of the target (frames through it: tests/lab/test_dpdk_lab.py, guests on vhost-user)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from ctrl.platform import netns
from ctrl.targets.ovs.daemon import OvsDaemons
from ctrl.targets.ovs.dpdk import DpdkConfig
from ctrl.targets.ovs.ovsdb import Transaction, ofports, vsctl
from ctrl.targets.ovs.target import BridgeSpec, Fabric
from ctrl.targets.ovs.vswitch import VSwitchSpec, configure, parse
from tests.packet.ovs_target import skip_without_ovs


def test_the_flag_names_the_switch_its_p4_port_and_its_interfaces() -> None:
    assert parse("hv1=s1:2,hv1u") == ("s1", VSwitchSpec("hv1", 2, "hv1-up", ("hv1u",)))
    assert parse("hv1=s1:2") == ("s1", VSwitchSpec("hv1", 2, "hv1-up", ()))
    assert parse("hv1=s1:2")[1].patch == "hv1-p4"
    for bad in ("hv1", "hv1=s1", "hv1=s1:x", "hv1=:2", "=s1:2", "hv1=s1:0",
                "averylongname=s1:2"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(bad)


def test_the_commands_patch_it_to_the_p4_port_and_add_its_interfaces(tmp_path: Path) -> None:
    tx = Transaction(OvsDaemons(tmp_path))
    configure(tx, "s1", VSwitchSpec("hv1", 2, "hv1-up", ("hv1u",)), DpdkConfig())
    flat = [" ".join(c) for c in tx.commands]
    assert "--may-exist add-br hv1" in flat
    assert "set bridge hv1 fail_mode=standalone" in flat      # NORMAL, no controller
    assert "--may-exist add-port s1 hv1-up" in flat
    assert "set interface hv1-up ofport_request=2 type=patch options:peer=hv1-p4" in flat
    assert "set interface hv1-p4 ofport_request=1 type=patch options:peer=hv1-up" in flat
    assert ("set interface hv1u ofport_request=2 type=dpdk "
            "options:dpdk-devargs=net_af_packet_hv1u,iface=hv1u") in flat
    assert tx.ofports == {"hv1-up": 2, "hv1-p4": 1, "hv1u": 2}


@pytest.mark.root
def test_a_virtual_switch_keeps_its_guests_ports_across_a_restart(
        tmp_path: Path) -> None:
    skip_without_ovs()
    uid = os.getpid() % 100000
    with netns.scratch_netns(f"vsw{uid}") as ns:
        # An interface on P4 port 1; the virtual switch on P4 port 2.
        netns.add_veth(f"vs{uid}a", "eth0", ns=ns, peer_ns=ns)
        spec = BridgeSpec(f"vsb{uid}", 1, {1: f"vs{uid}a"}, ns, gre=False,
                          vswitches=(VSwitchSpec(f"vh{uid}", 2, f"vh{uid}-up", ()),))
        first = Fabric(tmp_path, [spec])
        first.start()
        try:
            daemons = OvsDaemons(tmp_path / ns, ns)
            vsctl(daemons, ["add-port", f"vh{uid}", "guest", "--", "set", "interface",
                            "guest", "type=internal"])
            got = ofports(daemons)
            assert got[f"vh{uid}-up"] == 2 and got[f"vh{uid}-p4"] == 1
            first.stop(keep=True)
            again = Fabric(tmp_path, [spec])           # a target started again
            again.start()
            try:
                ports = vsctl(daemons, ["list-ports", f"vh{uid}"]).split()
                assert sorted(ports) == sorted([f"vh{uid}-p4", "guest"])
                assert vsctl(daemons, ["get", "interface", f"vh{uid}-up", "ofport"]).strip() \
                    == "2"
            finally:
                again.stop()
        finally:
            first.stop()
