"""Fewest-links next hops between the switches of a topology, on the C path engine.

All pairs are computed once (ctrl.fastpath.PathEngine); a link going down or
coming up recomputes only the destinations whose trees it touches, and only
those lose their cached answer. Among equal-cost next hops the one whose name
sorts first is taken, so the answer does not depend on the order of the links.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ctrl.control.topology import Link
from ctrl.fastpath import Graph, PathEngine


class SwitchPaths:
    def __init__(self, switches: Iterable[str], links: Sequence[Link]) -> None:
        self.names = sorted(switches)
        self._index = {name: i for i, name in enumerate(self.names)}
        self.links = list(links)
        graph = Graph(len(self.names),
                      [(self._index[x.a.switch], self._index[x.b.switch]) for x in self.links])
        self._engine = PathEngine(graph)
        self._cache: dict[str, dict[str, str]] = {}
        self.down: frozenset[Link] = frozenset()

    def set_down(self, down: Iterable[Link]) -> dict[str, dict[str, str]]:
        """Exactly these links are down from now on; the next hops, as they were, toward
        each destination whose tree changed."""
        before = {dest: self.next_hops(dest) for dest in self.names}
        self.down = frozenset(down)
        changed: set[str] = set()
        for i, link in enumerate(self.links):
            up = link not in self.down
            if self._engine.is_up(i) != up:
                changed.update(self.names[d] for d in self._engine.set_link(i, up))
        for dest in changed:
            self._cache.pop(dest, None)
        return {dest: before[dest] for dest in changed}

    def next_hops(self, dest: str) -> dict[str, str]:
        """{switch: its neighbour toward `dest`} for every switch that reaches `dest`."""
        hops = self._cache.get(dest)
        if hops is None:
            d = self._index[dest]
            hops = {}
            for i, name in enumerate(self.names):
                nxt = self._engine.next_hops(i, d) if i != d else ()
                if nxt:
                    hops[name] = self.names[min(nxt)]
            self._cache[dest] = hops
        return hops
