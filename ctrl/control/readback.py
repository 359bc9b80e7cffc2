"""Where hosts are, as the switches' own entries say it: what a restarted controller
believes before the topology file's declared places. Pure.

A host's access switch forwards its MAC to an edge (hypervisor) port: that port is where
it is. Where the entries deliver a MAC both ways (a flood group: a migration announced
before the controller stopped), the group's edge ports are places in doubt; an access
port readied for an arrival that no host is known at is another. The controller asks
the hosts in doubt where they are (ARP probes out of those ports) instead of guessing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import repeat, starmap
from typing import NamedTuple

from ctrl.control.topology import PortRef
from ctrl.p4rt.entity import Entity, MulticastGroupEntry, TableEntry
from ctrl.p4rt.values import to_int

HostKey = tuple[int, int]
Row = tuple[str, str, Mapping[str, int], Mapping[str, int]]   # table, action, match, params


class Run(NamedTuple):
    """Rows of one table and action as columns: each match field's values and each
    parameter's, in turn (ctrl/control/held.py's HeldReader.runs)."""

    table: str
    action: str
    match: Mapping[str, list[int]]
    params: Mapping[str, list[int]]

    def rows(self) -> Iterator[Row]:
        n = len(next(iter(self.match.values()), []))
        ms = map(dict, map(zip, repeat(list(self.match)), zip(*self.match.values(),
                                                                strict=True)))
        ps = (map(dict, map(zip, repeat(list(self.params)), zip(*self.params.values(),
                                                                strict=True)))
              if self.params else starmap(dict, repeat((), n)))
        return zip(repeat(self.table, n), repeat(self.action, n), ms, ps, strict=True)


@dataclass(slots=True)
class ReadBack:
    at: dict[HostKey, PortRef] = field(default_factory=dict)          # one edge port each
    ips: dict[HostKey, int] = field(default_factory=dict)             # from host routes
    doubt: dict[HostKey, set[PortRef]] = field(default_factory=dict)  # several places
    spare: dict[PortRef, int] = field(default_factory=dict)   # access ports, nobody known

    def merge(self, other: ReadBack) -> None:
        self._absorb(other)
        self._settle()

    def _absorb(self, other: ReadBack) -> None:
        for key, at in other.at.items():
            if key in self.at and self.at[key] != at:
                self.doubt.setdefault(key, set()).update({self.at[key], at})
            self.at.setdefault(key, at)
        self.ips.update(other.ips)
        for key, places in other.doubt.items():
            self.doubt.setdefault(key, set()).update(places)
        self.spare.update(other.spare)

    def _settle(self) -> None:
        for key in self.doubt:
            self.at.pop(key, None)
        taken = set(self.at.values())
        self.spare = {p: v for p, v in self.spare.items() if p not in taken}


def read_back(switch: str, held: Iterable[Entity], edges: set[PortRef]) -> ReadBack:
    """What one switch's entities say of the hosts at its edge ports."""
    entries = list(held)
    rows = [row_of(e) for e in entries if isinstance(e, TableEntry) and not e.is_default]
    return read_rows(switch, rows, [e for e in entries if isinstance(e, MulticastGroupEntry)],
                     edges)


def row_of(e: TableEntry) -> Row:
    return (e.table, e.action, {k: to_int(v) for k, v in e.match.items()},
            {k: to_int(v) for k, v in e.params.items()})


def looked_at(switch: str, edges: set[PortRef]) -> dict[str, tuple[str, set[int]]]:
    """Which of a switch's bridging.forward entries `read_rows` looks at: those to its
    edge ports (the others, most of them, say nothing of where hosts are), as
    HeldReader.rows' `only` (ctrl/control/held.py) takes it."""
    return {"bridging.forward": ("port", _ports(switch, edges))}


def _ports(switch: str, edges: set[PortRef]) -> set[int]:
    return {p.port for p in edges if p.switch == switch}


def read_rows(switch: str, rows: Iterable[Row | Run],
              held_groups: Iterable[MulticastGroupEntry], edges: set[PortRef]) -> ReadBack:
    """What one switch's entries say of the hosts at its edge ports, its table entries
    as rows (table, action, match, params: ints; or runs of them as columns) and its
    multicast groups apart."""
    out = ReadBack()
    groups = {g.group_id: [r.port for r in g.replicas if not r.instance]
              for g in held_groups}  # (copies into tunnels: no place)
    access: dict[PortRef, int] = {}
    mine = _ports(switch, edges)   # (no PortRef made for the others)
    for table, action, match, params in _flat(rows, out.ips):
        if table == "bridging":
            key = (match["vnet_id"], match["eth_dst"])
            if action == "bridging.forward":
                if params["port"] in mine:
                    out.at[key] = PortRef(switch, params["port"])
            elif action == "bridging.flood":
                ports = groups.get(params["group"], [])
                places = {PortRef(switch, p) for p in ports} & edges
                if places:
                    out.doubt.setdefault(key, set()).update(places)
        elif table == "routing_v4":
            out.ips[match["vnet_id"], params["dst_mac"]] = match["ipv4_dst"]
        elif table == "ingress_port" and action == "ingress_port.set_access":
            access[PortRef(switch, match["ingress_port"])] = params["vnet_id"]
    taken = set(out.at.values()) | {p for ps in out.doubt.values() for p in ps}
    out.spare = {p: v for p, v in access.items() if p not in taken and p in edges}
    return out


def _flat(rows: Iterable[Row | Run], ips: dict[HostKey, int]) -> Iterator[Row]:
    """The rows, but a run of host routes taken as columns into `ips` (each address by
    its host, as read_rows takes a route row: most of a switch's rows), in turn."""
    for r in rows:
        if type(r) is not Run:
            yield r   # type: ignore[misc]
        elif r.action == "routing_v4.route":
            m, p = r.match, r.params
            ips.update(zip(zip(m["vnet_id"], p["dst_mac"], strict=True), m["ipv4_dst"],
                           strict=True))
        else:
            yield from r.rows()


def merged(parts: Mapping[str, ReadBack]) -> ReadBack:
    """Every switch's, as one (tidied once, not after each: 320 switches of 10,000 hosts)."""
    out = ReadBack()
    for part in parts.values():
        out._absorb(part)
    out._settle()
    return out
