"""Columns of records: one field of every frame of a batch, as an array of ints.

The names are those of the C record (layout.FIELDS), and so are the values: 0
for a part the frame did not hold; `layers` (layout.L_*) says which parts are
there; "arp.*" is the frame's own ARP or the one inside GRE (L_ARP or
L_INNER_ARP). The C batch reads a column straight from its records; this module
makes the same column from Record objects, for the Python reference.
"""

from __future__ import annotations

from abc import abstractmethod
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import overload

from ctrl.fastpath.errors import FrameError
from ctrl.fastpath.layout import (
    L_ARP,
    L_DHCP,
    L_ETH,
    L_GRE,
    L_INNER_ARP,
    L_INNER_ETH,
    L_INNER_IPV4,
    L_IPV4,
    L_LLDP,
    L_META,
    L_UDP,
    L_VLAN,
    OFFSETS,
)
from ctrl.fastpath.records import Arp, Record

# Where the frame's parts sit inside the frame are the C parser's business.
PRIVATE = frozenset({"lldp.chassis_off", "lldp.chassis_len", "lldp.port_off", "lldp.port_len",
                     "meta.present"})
NAMES = tuple(name for name in OFFSETS if name not in PRIVATE)


def layers(r: Record) -> int:
    parts = ((r.eth, L_ETH), (r.vlan, L_VLAN), (r.arp, L_ARP), (r.ipv4, L_IPV4), (r.udp, L_UDP),
             (r.dhcp, L_DHCP), (r.gre, L_GRE), (r.inner_eth, L_INNER_ETH),
             (r.inner_arp, L_INNER_ARP), (r.inner_ipv4, L_INNER_IPV4), (r.lldp, L_LLDP),
             (r.meta, L_META))
    return sum(bit for part, bit in parts if part is not None)


def _arp(r: Record) -> Arp | None:
    return r.arp or r.inner_arp


_GETTERS: dict[str, Callable[[Record], int]] = {
    "kind": lambda r: r.kind.value,
    "reject": lambda r: r.reject.value,
    "layers": layers,
    "frame_len": lambda r: r.frame_len,
    "ether_type": lambda r: r.eth.ether_type if r.eth else 0,
    "vlan_tci": lambda r: r.vlan.tci if r.vlan else 0,
    "inner_ether_type": lambda r: r.inner_eth.ether_type if r.inner_eth else 0,
    "eth_dst": lambda r: r.eth.dst if r.eth else 0,
    "eth_src": lambda r: r.eth.src if r.eth else 0,
    "meta.in_port": lambda r: r.meta.in_port if r.meta else 0,
    "meta.vnet_id": lambda r: r.meta.vnet_id if r.meta else 0,
    "meta.reason": lambda r: r.meta.reason if r.meta else 0,
    "arp.sha": lambda r: a.sha if (a := _arp(r)) else 0,
    "arp.tha": lambda r: a.tha if (a := _arp(r)) else 0,
    "arp.spa": lambda r: a.spa if (a := _arp(r)) else 0,
    "arp.tpa": lambda r: a.tpa if (a := _arp(r)) else 0,
    "arp.oper": lambda r: a.oper if (a := _arp(r)) else 0,
    "ip.src": lambda r: r.ipv4.src if r.ipv4 else 0,
    "ip.dst": lambda r: r.ipv4.dst if r.ipv4 else 0,
    "ip.proto": lambda r: r.ipv4.proto if r.ipv4 else 0,
    "ip.ttl": lambda r: r.ipv4.ttl if r.ipv4 else 0,
    "gre.flags": lambda r: r.gre.flags if r.gre else 0,
    "gre.proto": lambda r: r.gre.proto if r.gre else 0,
    "gre.key": lambda r: r.gre.key if r.gre else 0,
    "lldp.ttl": lambda r: r.lldp.ttl if r.lldp else 0,
    "lldp.chassis_subtype": lambda r: r.lldp.chassis_subtype if r.lldp else 0,
    "lldp.port_subtype": lambda r: r.lldp.port_subtype if r.lldp else 0,
    "inner_ip.src": lambda r: r.inner_ipv4.src if r.inner_ipv4 else 0,
    "inner_ip.dst": lambda r: r.inner_ipv4.dst if r.inner_ipv4 else 0,
    "inner_ip.proto": lambda r: r.inner_ipv4.proto if r.inner_ipv4 else 0,
    "inner_ip.ttl": lambda r: r.inner_ipv4.ttl if r.inner_ipv4 else 0,
    "udp_sport": lambda r: r.udp.sport if r.udp else 0,
    "udp_dport": lambda r: r.udp.dport if r.udp else 0,
    "inner_dst": lambda r: r.inner_eth.dst if r.inner_eth else 0,
    "inner_src": lambda r: r.inner_eth.src if r.inner_eth else 0,
    "dhcp.chaddr": lambda r: r.dhcp.chaddr if r.dhcp else 0,
    "dhcp.xid": lambda r: r.dhcp.xid if r.dhcp else 0,
    "dhcp.ciaddr": lambda r: r.dhcp.ciaddr if r.dhcp else 0,
    "dhcp.yiaddr": lambda r: r.dhcp.yiaddr if r.dhcp else 0,
    "dhcp.requested_ip": lambda r: r.dhcp.requested_ip if r.dhcp else 0,
    "dhcp.op": lambda r: r.dhcp.op if r.dhcp else 0,
    "dhcp.msg_type": lambda r: r.dhcp.msg_type if r.dhcp else 0,
}
assert set(_GETTERS) == set(NAMES)


def check_name(field: str) -> tuple[int, str]:
    """The offset and array typecode of a public column."""
    if field not in _GETTERS:
        raise FrameError(f"no column {field!r}; columns: {', '.join(NAMES)}")
    return OFFSETS[field]


@dataclass(frozen=True, slots=True)
class Fields:
    """Public columns read together (Records.rows): their names, and where each is in
    the C record (offset, bytes)."""

    names: tuple[str, ...]
    offsets: array[int]
    widths: bytes

    @classmethod
    def of(cls, names: Sequence[str]) -> Fields:
        places = [check_name(f) for f in names]
        return cls(tuple(names), array("I", [o for o, _ in places]),
                   bytes(array(code).itemsize for _, code in places))


def column(records: Sequence[Record], field: str) -> array[int]:
    """The column `field` of Record objects, as the C batch gives it."""
    _, code = check_name(field)
    get = _GETTERS[field]
    return array(code, [get(r) for r in records])


class Records(Sequence[Record]):
    """What a batch parse gives: a sequence of Records with columns."""

    __slots__ = ()

    @abstractmethod
    def column(self, field: str) -> array[int]:
        """One field of every record (see the module's doc), without making records."""

    @abstractmethod
    def rows(self, fields: Fields, idx: Sequence[int]) -> array[int]:
        """`fields` of the records idx, row after row (len(fields.names) values a row),
        as column() gives them, without making records."""


class RecordList(Records):
    """The Python reference's records."""

    __slots__ = ("_records",)

    def __init__(self, records: list[Record]) -> None:
        self._records = records

    def __len__(self) -> int:
        return len(self._records)

    @overload
    def __getitem__(self, i: int) -> Record: ...

    @overload
    def __getitem__(self, i: slice) -> list[Record]: ...

    def __getitem__(self, i: int | slice) -> Record | list[Record]:
        return self._records[i]

    def column(self, field: str) -> array[int]:
        return column(self._records, field)

    def rows(self, fields: Fields, idx: Sequence[int]) -> array[int]:
        if any(not 0 <= i < len(self._records) for i in idx):
            raise IndexError(f"rows {list(idx)} of {len(self._records)}")
        gets = [_GETTERS[f] for f in fields.names]
        return array("Q", [get(self._records[i]) for i in idx for get in gets])
