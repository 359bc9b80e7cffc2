"""Light VMs' frames: a light VM (`lab: light`, ctrl/lab/spec.py) is a MAC and an address
with no namespace and no process, so its frames are sent for it from its hypervisor's
`uplink`, the port of the hypervisor's bridge that leads to its switch: they enter the
switch's Open vSwitch bridge (or bmv2) on the hypervisor's port as a VM's own would.

After a move, a light VM announces itself as QEMU does: a broadcast RARP for its own
MAC at its new hypervisor, repeated (ANNOUNCE_AGAIN, ctrl/lab/moves.py); `ctrl lab
migrate` moves one so (`move_light`). A sender on each hypervisor's uplink is opened
beforehand (entering a namespace costs more than a send), so a hundred announcements
leave in a few milliseconds.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterable, Sequence
from types import TracebackType

from ctrl.lab import moves
from ctrl.lab.moves import ANNOUNCE_AGAIN, Migration
from ctrl.lab.spec import HostNet, LabError, LabSpec
from ctrl.lab.state import LabState
from ctrl.p4rt.values import to_int
from ctrl.platform import netns
from ctrl.punt.frames import rarp_announcement

UPLINK = "uplink"   # a hypervisor's port to its switch, on its bridge (ctrl/lab/spec.py)


class LightSenders:
    """A frame sender on the uplink of each of `hypervisors` (default: every one of the
    lab's); closed on exit."""

    def __init__(self, spec: LabSpec, hypervisors: Iterable[str] | None = None) -> None:
        self.spec = spec
        self.names = list(spec.hypervisors if hypervisors is None else hypervisors)
        self._senders: dict[str, socket.socket] = {}
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> LightSenders:
        try:
            for name in self.names:
                sock = netns.frame_sender(UPLINK, self.spec.hypervisor(name).ns)
                self._senders[name] = self._stack.enter_context(sock)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stack.close()
        self._senders.clear()

    def send(self, hypervisor: str, frame: bytes) -> None:
        sender = self._senders.get(hypervisor)
        if sender is None:
            raise LabError(f"no sender on hypervisor {hypervisor!r}'s uplink")
        sender.send(frame)

    def announce(self, arrivals: Sequence[tuple[int, str]], again: bool = True) -> float:
        """Each (MAC, hypervisor)'s RARP from that hypervisor, all of them, then again at
        ANNOUNCE_AGAIN (as QEMU repeats it; `again` off: once). When the first round was
        sent (time.monotonic())."""
        frames = [(hv, rarp_announcement(mac)) for mac, hv in arrivals]
        for hv, _ in frames:   # an unknown hypervisor said before anything is sent
            if hv not in self._senders:
                raise LabError(f"no sender on hypervisor {hv!r}'s uplink")
        sent = time.monotonic()
        for hv, frame in frames:
            self.send(hv, frame)
        for delay in ANNOUNCE_AGAIN if again else ():
            time.sleep(max(0.0, sent + delay - time.monotonic()))
            for hv, frame in frames:
                self.send(hv, frame)
        return sent


def move_light(state: LabState, spec: LabSpec, host: HostNet, src: str, to: str,
               announce: bool, cause: str) -> Migration:
    """`ctrl lab migrate` of a light VM (checked, under the lab's lock): the controller
    told first if `announce`, then its RARPs from `to`. It has no pause of its own: it
    is at `to` once its first RARP has left."""
    asked = time.monotonic()
    if announce:
        moves.announce(state, host.name, to, cause)
    try:
        with LightSenders(spec, [to]) as senders:
            sent = senders.announce([(to_int(host.mac), to)])
    except BaseException:
        if announce:
            moves.cancel(state, host.name)
        raise
    done = Migration(host.name, src, to, announce, asked, sent, sent, cause=cause)
    moves.record(state, done)
    return done
