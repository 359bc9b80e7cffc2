"""A QEMU guest's vhost-user port on its hypervisor's OVS-DPDK virtual switch (labs with
`--guests qemu --datapath dpdk`; ctrl/targets/ovs/vswitch.py makes the switch).

QEMU listens on the socket (ctrl.vm.qemu, `Placement.vhost`); the port is OVS's
`dpdkvhostuserclient`, which connects to it (and again, every second, when QEMU is not
there yet). The switch runs in the site's ovs-vswitchd, whose database this reaches
through the run directory the lab gave its target.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ctrl.lab.spec import LabError, LabSpec
from ctrl.lab.state import LabState
from ctrl.targets.ovs.daemon import OvsDaemons
from ctrl.targets.ovs.errors import OvsError
from ctrl.targets.ovs.ovsdb import vsctl

log = logging.getLogger(__name__)


def site_daemons(state: LabState, spec: LabSpec, hypervisor: str) -> OvsDaemons:
    """The OVS daemons of the site whose switch `hypervisor` hangs off (as the lab's
    ovs-target made them: STATE/ovs-SITE/NETNS)."""
    sw = spec.switches[spec.hypervisor(hypervisor).switch]
    rundir = state.dir / f"ovs-{sw.site}"
    return OvsDaemons(rundir / sw.ns if sw.ns else rundir, sw.ns)


def _vswitch(spec: LabSpec, hypervisor: str) -> str:
    vswitch = spec.hypervisor(hypervisor).vswitch
    if vswitch is None:
        raise LabError(f"{hypervisor} has no OVS-DPDK virtual switch (the lab's guests are "
                       "not on vhost-user)")
    return vswitch


def attach(state: LabState, spec: LabSpec, hypervisor: str, port: str, socket: Path) -> None:
    """`ovs-vsctl --may-exist add-port VSWITCH PORT -- set interface PORT
    type=dpdkvhostuserclient options:vhost-server-path=SOCKET`"""
    vswitch = _vswitch(spec, hypervisor)
    try:
        vsctl(site_daemons(state, spec, hypervisor),
              ["--may-exist", "add-port", vswitch, port],
              ["set", "interface", port, "type=dpdkvhostuserclient",
               f"options:vhost-server-path={socket}"], what=f"{hypervisor}: port {port}")
    except OvsError as exc:
        raise LabError(f"{hypervisor}: no vhost-user port for {socket.name} ({exc})") from exc
    log.info("%s: vhost-user port %s on %s -> %s", hypervisor, port, vswitch, socket)


def detach(state: LabState, spec: LabSpec, hypervisor: str, port: str) -> None:
    """`ovs-vsctl --if-exists del-port VSWITCH PORT` (nothing when the site's daemons are
    gone already)."""
    vswitch = _vswitch(spec, hypervisor)
    daemons = site_daemons(state, spec, hypervisor)
    if daemons.running("ovsdb-server") is None:
        return
    try:
        vsctl(daemons, ["--if-exists", "del-port", vswitch, port],
              what=f"{hypervisor}: port {port}")
    except OvsError as exc:
        log.warning("%s: vhost-user port %s not removed: %s", hypervisor, port, exc)
