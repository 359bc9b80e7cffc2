"""Where a virtual network's frames go: the switches its hosts are at (its members) and,
toward each switch hosts are at, the switches its members' frames cross (reach). Pure.

A host's entries are wanted only where they can be used: on the switches that frames
from a host of its own virtual network cross on their way to it (a frame enters the
fabric only at a host's port, in that host's virtual network, and a miss drops it).
EVPN imports a VNI's MACs only on the VTEPs where it has ports for the same reason.
With 100,000 VMs in thousands of virtual networks a switch then holds the hosts of
the networks it serves (mobility.p4's tables hold 65,536 each), and a move rewrites
the few switches whose next hop toward the VM changes. Frames follow the path engine's
one tree per destination, so the reach toward a switch is the union of the tree's
paths from the members: walked once per (network, destination), each walk stopping
where an earlier one joined the tree, and kept until the members or the paths change.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping

from ctrl.control.topology import Topology

NextHops = Callable[[str], Mapping[str, str]]


class Footprints:
    """Per virtual network: how many hosts (and readied arrivals) each switch has, and
    the reach toward each destination switch, cached."""

    def __init__(self, topology: Topology, gateway: Callable[[str], str],
                 next_hops: NextHops) -> None:
        self.topo = topology
        self.gateway = gateway            # site -> its gateway switch (PlanError: none)
        self.next_hops = next_hops
        self._members: dict[int, dict[str, int]] = {}
        self._reach: dict[int, dict[str, frozenset[str]]] = {}

    def members(self, vnet: int) -> Collection[str]:
        """The switches a host of `vnet` is at, or is announced to arrive at."""
        return self._members.get(vnet, {}).keys()

    def count(self, vnet: int, switch: str) -> int:
        return self._members.get(vnet, {}).get(switch, 0)

    def vnets(self) -> Collection[int]:
        return self._members.keys()

    def add(self, vnet: int, switch: str) -> bool:
        """One more host of `vnet` at `switch`; True when the switch is a new member."""
        counts = self._members.setdefault(vnet, {})
        counts[switch] = counts.get(switch, 0) + 1
        if counts[switch] == 1:
            self._reach.pop(vnet, None)
            return True
        return False

    def remove(self, vnet: int, switch: str) -> bool:
        """One host fewer; True when the switch is no member any more."""
        counts = self._members[vnet]
        counts[switch] -= 1
        if counts[switch]:
            return False
        del counts[switch]
        if not counts:
            del self._members[vnet]
        self._reach.pop(vnet, None)
        return True

    def reach(self, vnet: int, dest: str) -> frozenset[str]:
        """The switches frames of `vnet`'s members cross toward `dest` (with `dest`)."""
        cached = self._reach.setdefault(vnet, {})
        out = cached.get(dest)
        if out is None:
            out = cached[dest] = crossing(self.topo, self.gateway, self.next_hops,
                                          self.members(vnet), dest)
        return out

    def forget_paths(self) -> None:
        """Paths changed: every reach is walked again when next asked for."""
        self._reach.clear()


def crossing(topo: Topology, gateway: Callable[[str], str], next_hops: NextHops,
             sources: Iterable[str], dest: str) -> frozenset[str]:
    """The switches frames from each of `sources` cross toward `dest`, `dest` with them:
    within a site along the tree toward it; from another site to that site's gateway,
    through the tunnel, and from `dest`'s gateway on. A walk cut off by links down
    stops where the tree ends."""
    there = topo.switches[dest].site
    walked: dict[str, set[str]] = {}   # target -> switches whose walk to it is done

    def walk(start: str, target: str) -> None:
        done = walked.setdefault(target, {target})
        tree = next_hops(target)
        cur: str | None = start
        while cur is not None and cur not in done:
            done.add(cur)
            cur = tree.get(cur)

    far = False
    for src in sources:
        here = topo.switches[src].site
        if here == there:
            walk(src, dest)
        else:
            walk(src, gateway(here))
            far = True
    if far:
        walk(gateway(there), dest)
    walked.setdefault(dest, {dest})
    return frozenset().union(*walked.values())
