"""A VM (or a client) moves to another hypervisor, keeping its MAC, its address and its
sockets, and announces itself there with RARP, as QEMU does after a live migration.

The new port is made first, on the destination hypervisor's bridge (the VM is
still running). Then the stop-and-copy pause: the old interface goes, the new
one becomes eth0 with the same MAC, address and route, and a RARP leaves it.
That pause is the VM's downtime; whatever the probe measures beyond it is the
network's share. Announced (the default), the controller is told first
(`POST /api/v1/migrate`): it readies the new port and delivers the VM's frames
at both locations until the RARP.
"""

from __future__ import annotations

import contextlib
import logging
import time
import urllib.parse
from dataclasses import asdict, dataclass

from ctrl import netns
from ctrl.apiclient import ApiError, call
from ctrl.lab.build import configure_host, plug_host
from ctrl.lab.spec import HostNet, LabError, LabSpec
from ctrl.lab.state import LabState
from ctrl.p4values import to_int
from ctrl.packets import rarp_announcement

log = logging.getLogger(__name__)

ANNOUNCE_AGAIN = (0.05, 0.15)   # QEMU repeats its announcement; seconds after the first
NEW_IF, OLD_IF = "eth0n", "eth0old"


@dataclass(frozen=True, slots=True)
class Migration:
    host: str
    src: str
    dst: str
    announced: bool
    asked: float      # time.monotonic() of each step
    paused: float
    resumed: float

    @property
    def downtime(self) -> float:
        """The VM's own pause: old interface down to RARP sent."""
        return self.resumed - self.paused

    def to_json(self) -> dict[str, object]:
        return {"event": "migration", **asdict(self)}


def controller_call(api: str, path: str, body: dict[str, str] | None = None,
                    method: str = "GET") -> object:
    try:
        return call(api, path, body, method)
    except ApiError as exc:
        raise LabError(f"the lab's controller: {exc}") from None


def check_move(spec: LabSpec, state: LabState, host: HostNet, to: str) -> str:
    """Where `host` is now; a LabError when it cannot go to `to`."""
    spec.hypervisor(to)
    src = state.locations.get(host.name, host.hypervisor)
    if src == to:
        raise LabError(f"{host.name} is at {to} already")
    for other, at in state.locations.items():
        peer = spec.hosts.get(other)
        if at == to and peer is not None and peer.vnet != host.vnet:
            raise LabError(f"{to} hosts {other} of virtual network {peer.vnet}; its port "
                           f"cannot carry {host.name}'s network {host.vnet} too")
    return src


def _back_to(state: LabState, spec: LabSpec, host: HostNet, src: str, announced: bool) -> None:
    """A migration that failed in its pause: the VM starts again where it was."""
    with contextlib.suppress(Exception):
        netns.delete_link(NEW_IF, host.ns)
    for ifname in ("eth0", OLD_IF):
        with contextlib.suppress(Exception):
            netns.delete_link(ifname, host.ns)
    plug_host(state, host, spec.hypervisors[src].ns)
    configure_host(host)
    with netns.frame_sender("eth0", host.ns) as sender:
        sender.send(rarp_announcement(to_int(host.mac)))
    if announced:
        with contextlib.suppress(LabError):
            controller_call(state.api, "migrate/" + urllib.parse.quote(host.name), None,
                            "DELETE")


def migrate(state: LabState, name: str, to: str, *, announce: bool = True) -> Migration:
    """Move `name` to hypervisor `to`; nothing changes when it cannot go there."""
    if not state.up:
        raise LabError("the lab is not up (`ctrl lab up TOPOLOGY` first)")
    spec = state.spec()
    host = spec.host(name)
    src = check_move(spec, state, host, to)
    asked = time.monotonic()
    if announce:
        controller_call(state.api, "migrate", {"vm": name, "to": to}, "POST")
    rarp = rarp_announcement(to_int(host.mac))
    try:
        # Pre-copy: the new port is made while the VM runs at the old one.
        plug_host(state, host, spec.hypervisors[to].ns, NEW_IF)
        netns.link_set(NEW_IF, host.ns, address=host.mac, mtu=host.mtu)
        sender = netns.frame_sender(NEW_IF, host.ns)
    except BaseException:
        with contextlib.suppress(Exception):
            netns.delete_link(NEW_IF, host.ns)
        if announce:
            with contextlib.suppress(LabError):
                controller_call(state.api, "migrate/" + urllib.parse.quote(name), None,
                                "DELETE")
        raise
    with sender, netns.Links(host.ns) as links:
        # Stop-and-copy: the VM pauses here and resumes at its new place.
        paused = time.monotonic()
        try:
            # Deleting a link waits for an RCU grace period (~20 ms): the old one is only
            # taken down and put aside here, and deleted once the VM runs again.
            # The guest's memory, and with it its ARP cache, moves with it.
            known = links.neighbours("eth0")
            links.set("eth0", state="down")
            links.set("eth0", ifname=OLD_IF)
            links.set(NEW_IF, ifname="eth0", state="up")
            links.addr_add("eth0", host.ip, host.prefix)
            links.route_default(host.gateway)
            for ip, mac in known:
                links.neigh("eth0", ip, mac, netns.NUD_STALE)
            sender.send(rarp)
        except BaseException as exc:
            _back_to(state, spec, host, src, announce)
            raise LabError(f"{name} could not resume at {to} ({exc}); it is back at {src}"
                           ) from exc
        resumed = time.monotonic()
        links.delete(OLD_IF)                 # its peer leaves the old bridge with it
        state.locations[name] = to
        state.save()
        done = Migration(name, src, to, announce, asked, paused, resumed)
        state.add_event(done.to_json())
        log.info("%s: %s -> %s, paused %.1f ms", name, src, to, done.downtime * 1e3)
        for delay in ANNOUNCE_AGAIN:
            time.sleep(max(0.0, resumed + delay - time.monotonic()))
            sender.send(rarp)
    return done
