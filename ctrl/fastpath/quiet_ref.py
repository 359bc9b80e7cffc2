"""The reference of the quiet filter (quiet.py, ext/fp_punt.h): the same rules on Records.

A table entry: where a settled host is (switch index << 16 | port), its address (0 if
none known), and the epoch it was settled in (0: not settled).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from ctrl.fastpath.records import Kind, PuntReason, Record

MALFORMED, IGNORED, QUIET, REPEATED = range(4)
ZERO_MACS = 64


@dataclass(slots=True)
class Entry:
    where: int
    ip: int
    epoch: int


def host_key(vnet: int, mac: int) -> int:
    return vnet << 48 | mac


def _lldp_id(r: Record) -> tuple[int, bytes, int, bytes] | None:
    if r.lldp is None:
        return None
    return (r.lldp.chassis_subtype, r.lldp.chassis_id, r.lldp.port_subtype, r.lldp.port_id)


def filter_records(table: dict[int, Entry], epoch: int, records: Sequence[Record],
                   switch_index: int, counts: list[int]) -> array[int]:
    """The indices of the records to look at; `counts` (MALFORMED..REPEATED) added to."""
    kept = array("I")
    last_lldp: dict[int, tuple[int, bytes, int, bytes] | None] = {}
    through: set[int] = set()    # hosts with a frame come through in this call
    zero_macs: list[int] = []
    for i, r in enumerate(records):
        meta = r.meta
        if not r.ok or meta is None:
            counts[MALFORMED] += 1
            continue
        port = meta.in_port
        if meta.reason == PuntReason.BRIDGING and r.eth is not None:
            kept.append(i)
            continue
        if r.kind is Kind.LLDP and r.lldp is not None:
            ident = _lldp_id(r)
            if port in last_lldp and last_lldp[port] == ident:
                counts[REPEATED] += 1
                continue
            last_lldp[port] = ident
            kept.append(i)
            continue
        if r.kind is Kind.DHCP and r.dhcp is not None:
            if meta.vnet_id == 0:
                zero_macs.append(r.dhcp.chaddr)
            else:
                through.add(host_key(meta.vnet_id, r.dhcp.chaddr))
            kept.append(i)
            continue
        if r.kind not in (Kind.ARP, Kind.RARP):
            counts[IGNORED] += 1
            continue
        a = r.arp
        if a is None or r.eth is None or not 1 <= a.oper <= 4 or a.sha != r.eth.src:
            counts[IGNORED] += 1
            continue
        if meta.vnet_id == 0:
            zero_macs.append(a.sha)
            kept.append(i)
            continue
        rarp = r.kind is Kind.RARP
        garp = not rarp and a.spa == a.tpa and a.spa != 0
        ip = 0 if rarp or a.spa == 0 else a.spa
        asks = not rarp and not garp and a.oper == 1
        key = host_key(meta.vnet_id, a.sha)
        e = table.get(key)
        quiet = (e is not None and e.epoch == epoch and key not in through
                 and e.where == (switch_index << 16 | port) and ip in (0, e.ip)
                 and len(zero_macs) <= ZERO_MACS and a.sha not in zero_macs)
        if quiet and not asks:
            counts[QUIET] += 1
            continue
        if not quiet:
            through.add(key)
        kept.append(i)
    return kept
