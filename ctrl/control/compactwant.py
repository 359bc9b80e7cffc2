"""A switch's wanted entries as compact keys and values, each entity made only if asked.

A sync compares what a switch should hold with what it holds by compact keys and values
(ctrl/control/held.py's HeldReader.compact, diff.py's diff_keyed); in sync, as after a
restart against switches that lost nothing, no wanted entity is needed at all. So the
hosts' entries (ctrl/control/hostwants.py's on_switch, ~2,400 a switch at 100,000 VMs on
320) are given here as their compact forms and how to make them: made into entities
(TableEntry: an object and two dicts each) only to be written or compared whole.

It is a Sequence of entities all the same (made as indexed), for whoever wants them so.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import TYPE_CHECKING, overload

from ctrl.control.planner import FLOOD, FORWARD, TO_CPU, TO_TUNNEL, Fwd, bridging_entry
from ctrl.control.topology import PortRef
from ctrl.p4rt.entity import Entity, TableEntry

if TYPE_CHECKING:
    from ctrl.control.held import HeldReader

Pair = tuple[Hashable, Hashable | None]   # compact key and value (None: compare entities)


class Wants:
    """Where on_switch puts a switch's entries: as entities (this), or compactly
    (CompactWanted). The entries of hosts come by kind, anything else as an entity."""

    def __init__(self) -> None:
        self.out: list[Entity] = []

    def entity(self, e: Entity) -> None:
        self.out.append(e)

    def bridging(self, vnet: int, mac: int, fwd: Fwd) -> None:
        self.out.append(bridging_entry(vnet, mac, fwd))

    def route(self, vnet: int, ip: int, gw: int, mac: int) -> None:
        self.out.append(route_entry(vnet, ip, gw, mac))

    def access(self, at: PortRef, vnet: int) -> None:
        self.out.append(access_entry(at, vnet))


def route_entry(vnet: int, ip: int, gw: int, mac: int) -> TableEntry:
    """A host route: frames of `vnet` to `ip` from the gateway `gw` to the host `mac`."""
    return TableEntry.of_ints("routing_v4", {"vnet_id": vnet, "ipv4_dst": ip},
                              "routing_v4.route", {"src_mac": gw, "dst_mac": mac})


def access_entry(at: PortRef, vnet: int) -> TableEntry:
    return TableEntry.of_ints("ingress_port", {"ingress_port": at.port},
                              "ingress_port.set_access", {"vnet_id": vnet})


def _same(e: Entity) -> Entity:
    return e


class CompactWanted(Wants, Sequence[Entity]):
    """`pairs`: each entry's compact key and value, in order; `entity(i)` makes the i-th.
    Kinds the schema has no compact form for (not mobility.p4's) are made at once."""

    def __init__(self, reader: HeldReader) -> None:
        super().__init__()
        self.pairs: list[Pair] = []
        self._how: list[tuple[object, ...]] = []   # (maker, its arguments...)
        self._compact = reader.compact
        key, value = reader.key_of, reader.value_of
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

    def entity(self, e: Entity) -> None:
        self.pairs.append(self._compact(e))
        self._how.append((_same, e))

    def bridging(self, vnet: int, mac: int, fwd: Fwd) -> None:
        make = self._bval[fwd[0]]
        if self._bkey is None or make is None:
            self.entity(bridging_entry(vnet, mac, fwd))
            return
        self.pairs.append((self._bkey(vnet, mac), make(*fwd[1:2])))
        self._how.append((bridging_entry, vnet, mac, fwd))

    def route(self, vnet: int, ip: int, gw: int, mac: int) -> None:
        if self._rkey is None or self._rval is None:
            self.entity(route_entry(vnet, ip, gw, mac))
            return
        self.pairs.append((self._rkey(vnet, ip), self._rval(gw, mac)))
        self._how.append((route_entry, vnet, ip, gw, mac))

    def access(self, at: PortRef, vnet: int) -> None:
        if self._akey is None or self._aval is None:
            self.entity(access_entry(at, vnet))
            return
        self.pairs.append((self._akey(at.port), self._aval(vnet)))
        self._how.append((access_entry, at, vnet))

    def make(self, i: int) -> Entity:
        how = self._how[i]
        fn: Callable[..., Entity] = how[0]   # type: ignore[assignment]
        return fn(*how[1:])

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
