"""A switch's wanted entries as compact keys and values, each entity made only if asked.

A sync compares what a switch should hold with what it holds by compact keys and values
(ctrl/control/held.py's HeldReader.compact, diff.py's diff_keyed); in sync, as after a
restart against switches that lost nothing, no wanted entity is needed at all. So the
hosts' entries (ctrl/control/hostwants.py's on_switch, ~2,400 a switch at 100,000 VMs on
320) come here in runs (the hosts behind one port of a switch, a network's routes) and
are kept as their compact keys and values, made by zip from the runs' columns, and the
runs themselves: an entity (TableEntry: an object and two dicts) is made only to be
written or compared whole.

It is a Sequence of entities all the same (made as indexed), for whoever wants them so.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from itertools import repeat
from typing import TYPE_CHECKING, overload

from ctrl.control.planner import FLOOD, FORWARD, TO_CPU, TO_TUNNEL, Fwd, bridging_entry
from ctrl.control.topology import PortRef
from ctrl.p4rt.entity import Entity, TableEntry

if TYPE_CHECKING:
    from ctrl.control.held import HeldReader, Order

Pair = tuple[Hashable, Hashable | None]   # compact key and value (None: compare entities)


class Wants:
    """Where on_switch puts a switch's entries: as entities (this), or compactly
    (CompactWanted). The hosts' entries come in runs, anything else as an entity."""

    def __init__(self) -> None:
        self.out: list[Entity] = []

    def entity(self, e: Entity) -> None:
        self.out.append(e)

    def bridging(self, vnet: int, macs: list[int], fwd: Fwd) -> None:
        """The hosts `macs` of `vnet` all forwarded as `fwd` (not a flood: no group)."""
        self.out += [bridging_entry(vnet, mac, fwd) for mac in macs]

    def forward(self, vnet: int, macs: list[int], ports: list[int]) -> None:
        """The hosts `macs` of `vnet` each to its port."""
        self.out += [bridging_entry(vnet, mac, (FORWARD, port))
                     for mac, port in zip(macs, ports, strict=True)]

    def routes(self, vnet: int, gw: int, ips: list[int], macs: list[int]) -> None:
        """Host routes of `vnet` from its gateway `gw`: each of `ips` to its MAC."""
        self.out += [route_entry(vnet, ip, gw, mac) for ip, mac in zip(ips, macs, strict=True)]

    def access(self, at: PortRef, vnet: int) -> None:
        self.out.append(access_entry(at, vnet))


def route_entry(vnet: int, ip: int, gw: int, mac: int) -> TableEntry:
    """A host route: frames of `vnet` to `ip` from the gateway `gw` to the host `mac`."""
    return TableEntry.of_ints("routing_v4", {"vnet_id": vnet, "ipv4_dst": ip},
                              "routing_v4.route", {"src_mac": gw, "dst_mac": mac})


def access_entry(at: PortRef, vnet: int) -> TableEntry:
    return TableEntry.of_ints("ingress_port", {"ingress_port": at.port},
                              "ingress_port.set_access", {"vnet_id": vnet})


Make = Callable[[int], Entity]   # a run's j-th entity


class CompactWanted(Wants, Sequence[Entity]):
    """`pairs`: each entry's compact key and value, in order; `make(i)` makes the i-th.
    Kinds the schema has no compact form for (not mobility.p4's) are made at once."""

    def __init__(self, reader: HeldReader) -> None:
        super().__init__()
        self.pairs: list[Pair] = []
        self._starts: list[int] = []   # each run's first index in pairs
        self._makes: list[Make] = []   # and what makes its entities
        self._compact = reader.compact
        key, value = reader.key_order, reader.value_order
        self._bkey = key("bridging", ("vnet_id", "eth_dst"))
        self._bval = [value("bridging.forward", ("port",)),
                      value("bridging.to_tunnel", ("tunnel_id",)),
                      value("bridging.to_cpu", ()),
                      value("bridging.flood", ("group",))]
        assert (FORWARD, TO_TUNNEL, TO_CPU, FLOOD) == (0, 1, 2, 3)
        self._rkey = key("routing_v4", ("vnet_id", "ipv4_dst"))
        self._rval = value("routing_v4.route", ("src_mac", "dst_mac"))
        self._akey = key("ingress_port", ("ingress_port",))
        self._aval = value("ingress_port.set_access", ("vnet_id",))

    def _run(self, n: int, keys: Iterable[Hashable], values: Iterable[Hashable],
             make: Make) -> None:
        if n:
            self._starts.append(len(self.pairs))
            self._makes.append(make)
            self.pairs += zip(keys, values, strict=True)

    def entity(self, e: Entity) -> None:
        k, v = self._compact(e)
        self._run(1, [k], [v], lambda _: e)

    def bridging(self, vnet: int, macs: list[int], fwd: Fwd) -> None:
        how = self._bval[fwd[0]]
        if self._bkey is None or how is None:
            super().bridging(vnet, macs, fwd)
            self._entities()
            return
        n = len(macs)
        self._run(n, _tuples(self._bkey, n, [repeat(vnet, n), macs]),
                  repeat(_tuple(how, fwd[1:2]), n),
                  lambda j: bridging_entry(vnet, macs[j], fwd))

    def forward(self, vnet: int, macs: list[int], ports: list[int]) -> None:
        how = self._bval[FORWARD]
        if self._bkey is None or how is None:
            super().forward(vnet, macs, ports)
            self._entities()
            return
        n = len(macs)
        self._run(n, _tuples(self._bkey, n, [repeat(vnet, n), macs]), _tuples(how, n, [ports]),
                  lambda j: bridging_entry(vnet, macs[j], (FORWARD, ports[j])))

    def routes(self, vnet: int, gw: int, ips: list[int], macs: list[int]) -> None:
        if self._rkey is None or self._rval is None:
            super().routes(vnet, gw, ips, macs)
            self._entities()
            return
        n = len(ips)
        self._run(n, _tuples(self._rkey, n, [repeat(vnet, n), ips]),
                  _tuples(self._rval, n, [repeat(gw, n), macs]),
                  lambda j: route_entry(vnet, ips[j], gw, macs[j]))

    def access(self, at: PortRef, vnet: int) -> None:
        if self._akey is None or self._aval is None:
            self.entity(access_entry(at, vnet))
            return
        self._run(1, [_tuple(self._akey, (at.port,))], [_tuple(self._aval, (vnet,))],
                  lambda _: access_entry(at, vnet))

    def _entities(self) -> None:
        """What Wants put into `out` (no compact form): as entities."""
        made, self.out = self.out, []
        for e in made:
            self.entity(e)

    def make(self, i: int) -> Entity:
        r = bisect_right(self._starts, i) - 1
        return self._makes[r](i - self._starts[r])

    def __len__(self) -> int:
        return len(self.pairs)

    @overload
    def __getitem__(self, i: int) -> Entity: ...
    @overload
    def __getitem__(self, i: slice) -> list[Entity]: ...

    def __getitem__(self, i: int | slice) -> Entity | list[Entity]:
        if isinstance(i, slice):
            return [self.make(j) for j in range(len(self))[i]]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return self.make(i % len(self))

    def __iter__(self) -> Iterator[Entity]:
        return map(self.make, range(len(self)))


def _tuples(order: Order, n: int, columns: list[Iterable[int]]) -> Iterator[Hashable]:
    """n compact keys or values (HeldReader.key_order's `order`) from the columns of
    their fields' values, given in the order the order was asked for."""
    head, perm = order
    return zip(*[repeat(h, n) for h in head], *[columns[i] for i in perm], strict=True)


def _tuple(order: Order, values: Sequence[object]) -> Hashable:
    head, perm = order
    return (*head, *[values[i] for i in perm])
