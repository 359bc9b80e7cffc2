"""Make-before-break: the order in which a move's switches are written.

Pure: the topology, the next hops toward each switch (ctrl.control.paths) and each
site's gateway in; around a host arriving somewhere, every switch's level out, the
levels in the order to write them (`move_levels`), or each switch's level looked up
(`move_rank`). Kept per new place until the paths change (`clear`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ctrl.control.footprint import NextHops
from ctrl.control.topology import PortRef, Topology


class MoveOrder:
    def __init__(self, topology: Topology, next_hops: NextHops,
                 gateways: Mapping[str, str]) -> None:
        self.topo = topology
        self.next_hops = next_hops
        self._gateways = gateways   # site -> its gateway switch
        # move_levels' levels, by new place and the old site (None: the same one)
        self._levels: dict[tuple[str, str | None], list[list[str]]] = {}
        self._ranks: dict[tuple[str, str | None], dict[str, int]] = {}

    def clear(self) -> None:
        """The paths changed: every level is made again when next asked for."""
        self._levels.clear()
        self._ranks.clear()

    def move_levels(self, new: PortRef, old: PortRef | None) -> list[list[str]]:
        """Make-before-break around a host arriving at `new` (from `old`): every switch in
        a level, the levels in the order to write them. The new location first; then
        its site's switches by their distance from it, so that a switch is written after
        the next hop it will send to (no frame loops between a written switch and one
        not yet written); then the other sites' switches, each site's gateway first and
        its switches outward from it, the old location's site after the others (a
        third site's gateway no longer copies a VM in flight into its tunnels when the
        old site's starts to send the VM's frames on to the new one: none arrives
        twice); the old location last."""
        _, levels, last = self._kept(new, old)
        if last is None:
            return [list(level) for level in levels]
        out = [[sw for sw in level if sw != last] for level in levels]
        return [level for level in out if level] + [[last]]

    def move_rank(self, new: PortRef, old: PortRef | None) -> Callable[[str], int | None]:
        """`move_levels` as each switch's level (the old location after every other),
        looked up for the few switches a move changes instead of listing all of them."""
        key, levels, last = self._kept(new, old)
        ranks = self._ranks.get(key)
        if ranks is None:
            ranks = self._ranks[key] = {sw: i for i, level in enumerate(levels) for sw in level}
        if last is None:
            return ranks.get
        end = len(ranks) + 1
        return lambda sw: end if sw == last else ranks.get(sw)

    def _kept(self, new: PortRef, old: PortRef | None
              ) -> tuple[tuple[str, str | None], list[list[str]], str | None]:
        """The kept levels around `new` (made now if not kept), their key (the new switch,
        the old site where it is another), and the old location's switch where it is
        another."""
        last = old.switch if old is not None and old.switch != new.switch else None
        here = self.topo.switches[new.switch].site
        gone = None if old is None else self.topo.switches[old.switch].site
        gone = None if gone == here else gone
        key = (new.switch, gone)
        levels = self._levels.get(key)
        if levels is None:
            levels = self._levels[key] = self._levels_from(new.switch, gone)
        return key, levels, last

    def _levels_from(self, new: str, gone: str | None) -> list[list[str]]:
        """Every switch by its level around `new` (move_levels without an old place; the
        site `gone` after the others); kept until the paths change."""
        dist = self._distances(new)
        here = self.topo.switches[new].site
        far = 1 + max(dist.values(), default=0)
        later = 2 * (len(self.topo.switches) + 1)   # beyond any level of the others
        level: dict[str, int] = {}
        for sw in self.topo.switches:
            site = self.topo.switches[sw].site
            if site == here:
                level[sw] = dist.get(sw, far)
            else:
                gw = self._gateways.get(site)
                level[sw] = far + (self._distances(gw).get(sw, far) if gw else far) + (
                    later if site == gone else 0)
        out: dict[int, list[str]] = {}
        for sw in sorted(self.topo.switches):
            out.setdefault(level[sw], []).append(sw)
        return [out[k] for k in sorted(out)]

    def _distances(self, dest: str) -> dict[str, int]:
        """Hops from every switch of dest's site that reaches it (dest itself: 0)."""
        hops = self.next_hops(dest)
        out = {dest: 0}
        for sw in hops:
            path: list[str] = []
            cur: str | None = sw
            while cur is not None and cur not in out and len(path) <= len(hops):
                path.append(cur)
                cur = hops.get(cur)
            if cur is None or cur not in out:
                continue   # cut off from dest
            d = out[cur]
            for s in reversed(path):
                d += 1
                out[s] = d
        return out

