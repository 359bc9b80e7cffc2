"""A VM (or a client) moves to another hypervisor, keeping its MAC, its address and its
sockets, and announces itself there with RARP, as QEMU does after a live migration.
A QEMU guest is live-migrated for real (ctrl/lab/guests.py); what follows is how a
namespace moves.

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

from ctrl import netns
from ctrl.lab import guests, moves
from ctrl.lab.build import configure_host, plug_host
from ctrl.lab.moves import Migration, check_move
from ctrl.lab.spec import HostNet, LabError, LabSpec
from ctrl.lab.state import LabState
from ctrl.p4values import to_int
from ctrl.packets import rarp_announcement

log = logging.getLogger(__name__)

ANNOUNCE_AGAIN = (0.05, 0.15)   # QEMU repeats its announcement; seconds after the first
NEW_IF, OLD_IF = "eth0n", "eth0old"


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
        moves.cancel(state, host.name)


def migrate(state: LabState, name: str, to: str, *, announce: bool = True,
            max_bandwidth: int | None = None) -> Migration:
    """Move `name` to hypervisor `to`; nothing changes when it cannot go there. A QEMU
    guest is live-migrated (at most `max_bandwidth` bytes a second, if given)."""
    if not state.up:
        raise LabError("the lab is not up (`ctrl lab up TOPOLOGY` first)")
    spec = state.spec()
    host = spec.host(name)
    src = check_move(spec, state, host, to)
    if host.guest:
        return guests.live_migrate(state, spec, host, src, to, announce=announce,
                                   max_bandwidth=max_bandwidth)
    return _move_namespace(state, spec, host, src, to, announce)


def _move_namespace(state: LabState, spec: LabSpec, host: HostNet, src: str, to: str,
                    announce: bool) -> Migration:
    name = host.name
    asked = time.monotonic()
    if announce:
        moves.announce(state, name, to)
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
            moves.cancel(state, name)
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
        done = Migration(name, src, to, announce, asked, paused, resumed)
        moves.record(state, done)
        log.info("%s: %s -> %s, paused %.1f ms", name, src, to, done.downtime * 1e3)
        for delay in ANNOUNCE_AGAIN:
            time.sleep(max(0.0, resumed + delay - time.monotonic()))
            sender.send(rarp)
    return done
