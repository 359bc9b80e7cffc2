"""After a restart, hosts are where the switches' entries say (read back), but a VM that
moved while no controller listened (its RARP punted to nobody) is not there any more. So
each host placed by read-back is asked, with an ARP probe where the entries have it; one
that does not answer there within `wait` seconds is asked at every edge port, once, and
its answer from wherever it is now moves it as any sighting does. Pure: sends out, the
core's sightings and clock in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ctrl.control.plans import Send
from ctrl.control.topology import PortRef
from ctrl.punt.frames import arp_probe

Key = tuple[int, int]   # (vnet, mac)
WAIT_S = 0.25           # an ARP answer on this fabric takes a few ms; under load, more


@dataclass(frozen=True, slots=True)
class Asked:
    ip: int
    deadline: float


class Verification:
    def __init__(self, source_mac: int, wait: float = WAIT_S) -> None:
        self.source_mac = source_mac
        self.wait = wait
        self.pending: dict[Key, Asked] = {}
        self.searched = 0    # hosts asked everywhere, since the start

    def ask(self, hosts: Iterable[tuple[Key, int, PortRef]], now: float) -> list[Send]:
        """Probes for (key, ip, where read back) of each host placed by read-back."""
        sends = []
        for key, ip, at in hosts:
            self.pending[key] = Asked(ip, now + self.wait)
            sends.append(Send(at.switch, at.port, arp_probe(ip, self.source_mac)))
        return sends

    def seen(self, key: Key) -> None:
        """A sighting of the host, wherever: it is placed by that, not by the search."""
        self.pending.pop(key, None)

    def next_deadline(self) -> float | None:
        return min((a.deadline for a in self.pending.values()), default=None)

    def due(self, now: float, edges: Iterable[PortRef]) -> list[Send]:
        """Probes at every edge port for each host that did not answer in time."""
        late = [k for k, a in self.pending.items() if a.deadline <= now]
        if not late:
            return []
        ports = sorted(edges)
        sends = []
        for key in sorted(late):
            ip = self.pending.pop(key).ip
            sends += [Send(p.switch, p.port, arp_probe(ip, self.source_mac)) for p in ports]
        self.searched += len(late)
        return sends
