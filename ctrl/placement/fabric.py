"""The fabric's distances as forwarding routes them, and the batched costs over them.

Within a site a frame takes the fewest links (the C path engine's all-pairs table, the
links that are down taken out, as ctrl/control/paths.py routes); across sites it goes
to its site's gateway, through the GRE tunnel (one link) and on from the far gateway,
as the planner's bridging entries send it. `Fabric` holds that switch x switch table and
answers, for many VMs in one call of the C kernel (ctrl/fastpath/place.py), the cost of
each candidate hypervisor: packets/s entering at each switch x links to its switch.
"""

from __future__ import annotations

from array import array
from collections.abc import Collection, Iterator, Mapping, Sequence

from ctrl.control.topology import Link, Topology
from ctrl.fastpath import Graph, PathEngine
from ctrl.fastpath.graph import INF
from ctrl.fastpath.native import Backend
from ctrl.fastpath.place import NONE, CostTable, Demands
from ctrl.placement.manager import HypervisorView, Ranked, VMView


def distance_table(topo: Topology, down: Collection[Link] = (), *,
                   backend: Backend = Backend.AUTO) -> tuple[list[str], array[int]]:
    """(switch names, n x n links between them as forwarding goes; INF: no path)."""
    names = sorted(topo.switches)
    index = {s: i for i, s in enumerate(names)}
    n = len(names)
    graph = Graph(n, [(index[x.a.switch], index[x.b.switch]) for x in topo.links],
                  backend=backend)
    engine = PathEngine(graph, down=[i for i, x in enumerate(topo.links) if x in down],
                        backend=backend)
    # engine.dist[k * n + u]: from u to k; the graph is undirected: also from k to u.
    site = [topo.switches[s].site for s in names]
    if len(set(site)) == 1:
        return names, array("I", engine.dist)
    gateway: dict[str, int] = {}
    for s in names:
        sw = topo.switches[s]
        if sw.underlay is not None and sw.site not in gateway:
            gateway[sw.site] = index[s]
    dist = array("I", engine.dist)
    for u in range(n):
        for v in range(n):
            if site[u] == site[v]:
                continue
            gu, gv = gateway.get(site[u]), gateway.get(site[v])
            if gu is None or gv is None:
                dist[u * n + v] = INF
                continue
            a, b = engine.dist[gu * n + u], engine.dist[v * n + gv]
            dist[u * n + v] = INF if INF in (a, b) else a + 1 + b
    return names, dist


class RowCosts(Mapping[str, float]):
    """One VM's cost at each candidate hypervisor, read from the kernel's output as asked
    (a VM's row is its cost at each candidate switch)."""

    __slots__ = ("_col", "_lo", "_rows")

    def __init__(self, rows: array[float], lo: int, col: Mapping[str, int]) -> None:
        self._rows, self._lo, self._col = rows, lo, col

    def __getitem__(self, hypervisor: str) -> float:
        return self._rows[self._lo + self._col[hypervisor]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._col)

    def __len__(self) -> int:
        return len(self._col)


class Fabric:
    """The distance table of a topology (links down taken out) and costs over it."""

    def __init__(self, topo: Topology, down: Collection[Link] = (), *,
                 backend: Backend = Backend.AUTO) -> None:
        self.topo = topo
        self.down = frozenset(down)
        self.names, dist = distance_table(topo, self.down, backend=backend)
        self.index = {s: i for i, s in enumerate(self.names)}
        self.table = CostTable(dist, len(self.names), backend=backend)

    def links(self, a: str, b: str) -> int | None:
        """Fewest links from switch a to switch b as forwarding goes (None: no path)."""
        return self.table.distance(self.index[a], self.index[b])

    def best(self, vms: Sequence[VMView], hypervisors: Mapping[str, HypervisorView]
             ) -> list[Ranked]:
        """Per VM: its cheapest candidate hypervisor and every candidate's cost. VMs whose
        policies allow the same hypervisors go in one call of the kernel."""
        out: list[Ranked | None] = [None] * len(vms)
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, vm in enumerate(vms):
            groups.setdefault(vm.policy.hypervisors, []).append(i)
        targets = sorted(h.name for h in hypervisors.values() if h.target)
        for allowed_names, members in groups.items():
            names = [h for h in targets if not allowed_names or h in allowed_names]
            for i, ranked in zip(members, self._best([vms[i] for i in members], names,
                                                     hypervisors), strict=True):
                out[i] = ranked
        return [r for r in out if r is not None]

    def _best(self, vms: Sequence[VMView], names: Sequence[str],
              hypervisors: Mapping[str, HypervisorView]) -> list[Ranked]:
        index = self.index
        switches = sorted({index[hypervisors[h].switch] for h in names})
        column = {s: j for j, s in enumerate(switches)}
        col = {h: column[index[hypervisors[h].switch]] for h in names}
        on_switch: dict[int, list[str]] = {}
        for h in names:
            on_switch.setdefault(col[h], []).append(h)
        # Among the hypervisors of one switch (equal cost): the one with room and the
        # fewest VMs (the engine checks the memory a VM needs, and falls back by cost).
        pick = {j: _pick(hs, hypervisors) for j, hs in on_switch.items()}
        demands = Demands.of_names(index, (vm.demand for vm in vms))
        cur = [index.get(vm.switch) for vm in vms]
        got = self.table.best(demands, switches, cur, rows=True)
        assert got.rows is not None
        nc, rows, best_j, cost, here = len(switches), got.rows, got.index, got.cost, got.here
        out = []
        for i, vm in enumerate(vms):
            j = best_j[i]
            if j == NONE:
                best = None
            else:
                mine = vm.hypervisor
                best = mine if mine is not None and col.get(mine) == j else pick[j]
            out.append(Ranked(best, cost[i], here[i], RowCosts(rows, i * nc, col)))
        return out


def _pick(names: Sequence[str], hypervisors: Mapping[str, HypervisorView]) -> str:
    roomy = [h for h in names if hypervisors[h].room_for(0) is None]
    return min(roomy or names, key=lambda h: (hypervisors[h].load, h))
