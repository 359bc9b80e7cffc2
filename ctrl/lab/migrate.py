"""A VM (or a client) moves to another hypervisor, keeping its MAC, its address and its
sockets, and announces itself there with RARP, as QEMU does after a live migration.
A QEMU guest is live-migrated for real (ctrl/lab/guests.py); what follows is how a
namespace moves.

The new port is made first, on the destination hypervisor's bridge, down, with
the VM's MAC, address and ARP cache (the VM is still running: its traffic keeps
to the old one). Then the stop-and-copy pause: the old interface goes down and
aside, the new one becomes eth0, up, with the default route, and a RARP leaves
it: four netlink requests on interfaces found beforehand (~2 ms here, idle).
Announced, the pause is also the cue for the switch-over, as for QEMU guests
(`POST /api/v1/migrate/VM/switch`, its connection made beforehand, so that the
pause only sends it): the network then moves while the VM is paused, not after its
RARP, and the old place stops getting copies of its frames.
That pause is the VM's downtime; whatever the probe measures beyond it is the
network's share. Announced (the default), the controller is told first
(`POST /api/v1/migrate`): it readies the new port and delivers the VM's frames
at both locations until the RARP.
"""

from __future__ import annotations

import contextlib
import logging
import time

from ctrl.lab import guests, moves
from ctrl.lab.build import configure_host, plug_host
from ctrl.lab.light import move_light
from ctrl.lab.moves import Migration, check_move
from ctrl.lab.spec import HostNet, LabError, LabSpec
from ctrl.lab.state import LabState
from ctrl.p4rt.values import to_int
from ctrl.platform import netns
from ctrl.punt.frames import rarp_announcement

log = logging.getLogger(__name__)

NEW_IF, OLD_IF = "eth0n", "eth0old"


def _back_to(state: LabState, spec: LabSpec, host: HostNet, src: str, announced: bool
             ) -> None:
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
            max_bandwidth: int | None = None, cause: str = "operator") -> Migration:
    """Move `name` to hypervisor `to`; nothing changes when it cannot go there. A QEMU
    guest is live-migrated (at most `max_bandwidth` bytes a second, if given). One
    migration of the lab at a time: others (another process's) wait for this one, and
    it starts from the state they left (`LabState.exclusive`)."""
    moves.check_cause(cause)
    with state.exclusive():
        if not state.up:
            raise LabError("the lab is not up (`ctrl lab up TOPOLOGY` first)")
        spec = state.spec()
        if name in spec.light:
            light = spec.light[name]
            return move_light(state, spec, light, check_move(spec, state, light, to), to,
                              announce, cause)
        host = spec.host(name)
        src = check_move(spec, state, host, to)
        if host.guest:
            return guests.live_migrate(state, spec, host, src, to, announce=announce,
                                       max_bandwidth=max_bandwidth, cause=cause)
        return _move_namespace(state, spec, host, src, to, announce, cause)


def _move_namespace(state: LabState, spec: LabSpec, host: HostNet, src: str, to: str,
                    announce: bool, cause: str) -> Migration:
    name = host.name
    asked = time.monotonic()
    if announce:
        moves.announce(state, name, to, cause)
    rarp = rarp_announcement(to_int(host.mac))
    with contextlib.ExitStack() as stack:
        try:
            # Pre-copy: the new port is made while the VM runs at the old one, a port of
            # the destination's bridge that it floods nothing to (as a QEMU guest's tap
            # there): the VM's frames delivered there are not its until its RARP from
            # there, in the pause, has taught the bridge where it is (a guest that has
            # not resumed takes nothing; it was flooded to, and a VM delivered at both
            # places took every datagram twice and lost none in its pause). Its address
            # and neighbours are the VM's (the guest's memory, and with it its ARP cache,
            # moves with it); its prefix route comes after the old one's, which the VM's
            # traffic keeps to.
            hypervisor = spec.hypervisors[to].ns
            plug_host(state, host, hypervisor, NEW_IF, flood=False)
            links = stack.enter_context(netns.Links(host.ns))
            old, new = links.index("eth0"), links.index(NEW_IF)
            links.set(new, address=host.mac, mtu=host.mtu)
            links.addr_add(new, host.ip, host.prefix)
            for ip, mac in links.neighbours(old):
                links.neigh(new, ip, mac, netns.NUD_STALE)
            sender = stack.enter_context(netns.frame_sender(NEW_IF, host.ns))
            hook = moves.SwitchOver(state, name) if announce else None
        except BaseException:
            stack.close()
            with contextlib.suppress(Exception):
                netns.delete_link(NEW_IF, host.ns)
            if announce:
                moves.cancel(state, name)
            raise
        # Stop-and-copy: the VM pauses here and resumes at its new place.
        paused = time.monotonic()
        if hook is not None:
            hook.send()
        try:
            # Deleting a link waits for an RCU grace period (~20 ms): the old one is only
            # taken down and put aside here, and deleted once the VM runs again.
            links.set(old, state="down")
            links.set(old, ifname=OLD_IF)
            links.set(new, ifname="eth0", state="up")
            links.route_default(host.gateway)
            sender.send(rarp)
        except BaseException as exc:
            if hook is not None:
                hook.done()  # the switch-over, then the cancel that undoes it
            _back_to(state, spec, host, src, announce)
            raise LabError(f"{name} could not resume at {to} ({exc}); it is back at {src}"
                           ) from exc
        resumed = time.monotonic()
        links.delete(OLD_IF)                 # its peer leaves the old bridge with it
        netns.set_flood_in(host.port_name, hypervisor, True)   # an ordinary port again
        if hook is not None:
            hook.done()
        done = Migration(name, src, to, announce, asked, paused, resumed, cause=cause)
        moves.record(state, done)
        log.info("%s: %s -> %s, paused %.1f ms", name, src, to, done.downtime * 1e3)
        for delay in moves.ANNOUNCE_AGAIN:
            time.sleep(max(0.0, resumed + delay - time.monotonic()))
            sender.send(rarp)
    return done
