"""The reference of the quiet filter (quiet.py, ext/fp_punt.h): the same rules on Records.

A table entry: where a settled host is (switch index << 16 | port), its address (0 if
none known), and the epoch it was settled in (0: not settled). An address's entry (key
ADDR | vnet << 32 | IPv4) names its owner's key, for the ARP requests of settled hosts
answered beside the filter (`Answers`: the replies, as ctrl/punt/frames.py's
arp_reply makes them).
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

from ctrl.fastpath.records import Kind, PuntReason, Record

MALFORMED, IGNORED, QUIET, REPEATED, ANSWERED = range(5)
ZERO_MACS = 64
CLAIMS = 64
ADDR = 1 << 60
REPLY_LEN = 60
_REPLY = struct.Struct("!6s6sHHHBBH6s4s6s4s18x")


@dataclass(slots=True)
class Entry:
    where: int
    ip: int
    epoch: int
    owner: int = 0   # an address's entry: its owner's key


@dataclass(slots=True)
class Answers:
    """Where the answered requests' replies go: `sites` by switch index in, the frames
    (REPLY_LEN bytes each) and the ports they came in on out."""

    sites: Sequence[int]
    frames: bytearray = field(default_factory=bytearray)
    ports: array[int] = field(default_factory=lambda: array("I"))


def host_key(vnet: int, mac: int) -> int:
    return vnet << 48 | mac


def addr_key(vnet: int, ip: int) -> int:
    return ADDR | vnet << 32 | ip


def _answer(table: dict[int, Entry], epoch: int, answers: Answers, vnet: int, sha: int,
            spa: int, tpa: int, switch_index: int, port: int, through: set[int],
            claims: list[int]) -> bool:
    sites = answers.sites
    if tpa == 0 or switch_index >= len(sites) or tpa in claims:
        return False
    addr = table.get(addr_key(vnet, tpa))
    if addr is None or addr.epoch != epoch:
        return False
    owner = table.get(addr.owner)
    if (owner is None or owner.epoch != epoch or addr.owner in through or owner.ip != tpa
            or owner.where >> 16 >= len(sites) or sites[owner.where >> 16] != sites[switch_index]):
        return False
    if addr.owner & 0xFFFFFFFFFFFF == sha:   # its own address (an RFC 5227 probe)
        return False
    mac = (addr.owner & 0xFFFFFFFFFFFF).to_bytes(6, "big")
    asker = sha.to_bytes(6, "big")
    answers.frames += _REPLY.pack(asker, mac, 0x0806, 1, 0x0800, 6, 4, 2, mac,
                                  tpa.to_bytes(4, "big"), asker, spa.to_bytes(4, "big"))
    answers.ports.append(port)
    return True


def _lldp_id(r: Record) -> tuple[int, bytes, int, bytes] | None:
    if r.lldp is None:
        return None
    return (r.lldp.chassis_subtype, r.lldp.chassis_id, r.lldp.port_subtype, r.lldp.port_id)


def filter_records(table: dict[int, Entry], epoch: int, records: Sequence[Record],
                   switch_index: int, counts: list[int], answers: Answers | None = None
                   ) -> array[int]:
    """The indices of the records to look at; `counts` (MALFORMED..ANSWERED) added to;
    settled hosts' requests answered into `answers` where given (ext/fp_punt.h)."""
    kept = array("I")
    last_lldp: dict[int, tuple[int, bytes, int, bytes] | None] = {}
    through: set[int] = set()    # hosts with a frame come through in this call
    zero_macs: list[int] = []
    claims: list[int] = []       # senders' addresses of ARP frames come through
    claimed_any = False          # a DHCP frame, a port in no network, too many claims
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
            claimed_any = True
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
            claimed_any = True
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
        if (quiet and answers is not None and not claimed_any
                and _answer(table, epoch, answers, meta.vnet_id, a.sha, a.spa, a.tpa,
                            switch_index, port, through, claims)):
            counts[ANSWERED] += 1
            continue
        if not quiet:
            through.add(key)
        if a.spa != 0:
            if len(claims) < CLAIMS:
                claims.append(a.spa)
            else:
                claimed_any = True
        kept.append(i)
    return kept
