"""The packet-in parser in plain Python: the reference the C parser must equal, field by field.

Each step mirrors ext/fastpath.c; any change goes into both, and the property
tests compare them on random and mutated frames.
"""

from __future__ import annotations

import struct
from dataclasses import replace
from typing import Any

from ctrl.fastpath.records import LLDP_ID_MAX, Kind, Meta, Record, Reject

_H = struct.Struct("!H")
_I = struct.Struct("!I")


class _Stop(Exception):
    def __init__(self, reject: Reject) -> None:
        self.reject = reject


def _need(off: int, want: int, length: int) -> None:
    if off > length or want > length - off:
        raise _Stop(Reject.TRUNCATED)


def _arp(f: bytes, off: int, out: dict[str, Any]) -> None:
    _need(off, 28, len(f))
    htype, ptype = _H.unpack_from(f, off)[0], _H.unpack_from(f, off + 2)[0]
    if (htype, ptype, f[off + 4], f[off + 5]) != (1, 0x0800, 6, 4):
        raise _Stop(Reject.UNKNOWN)
    out.update(arp_oper=_H.unpack_from(f, off + 6)[0], arp_sha=f[off + 8:off + 14],
               arp_spa=_I.unpack_from(f, off + 14)[0], arp_tha=f[off + 18:off + 24],
               arp_tpa=_I.unpack_from(f, off + 24)[0])


def _ipv4(f: bytes, off: int) -> tuple[int, int, int, int]:
    _need(off, 20, len(f))
    ihl = (f[off] & 0x0F) * 4
    if f[off] >> 4 != 4 or ihl < 20:
        raise _Stop(Reject.BAD_LENGTH)
    _need(off, ihl, len(f))
    total = _H.unpack_from(f, off + 2)[0]
    if total < ihl:
        raise _Stop(Reject.BAD_LENGTH)
    if total > len(f) - off:
        raise _Stop(Reject.TRUNCATED)
    return _I.unpack_from(f, off + 12)[0], _I.unpack_from(f, off + 16)[0], f[off + 9], ihl


def _gre(f: bytes, off: int, out: dict[str, Any]) -> None:
    _need(off, 4, len(f))
    flags, proto = _H.unpack_from(f, off)[0], _H.unpack_from(f, off + 2)[0]
    out.update(gre_flags=flags, kind=Kind.GRE)
    if flags & 0x4000 or flags & 0x0007:
        raise _Stop(Reject.UNKNOWN)
    pos = off + 4 + (4 if flags & 0x8000 else 0)
    if flags & 0x2000:
        _need(pos, 4, len(f))
        out["gre_key"] = _I.unpack_from(f, pos)[0]
        pos += 4
    if flags & 0x1000:
        pos += 4
    if proto != 0x6558:
        return
    _need(pos, 14, len(f))
    inner_type = _H.unpack_from(f, pos + 12)[0]
    out.update(inner_dst=f[pos:pos + 6], inner_src=f[pos + 6:pos + 12],
               inner_ether_type=inner_type)
    pos += 14
    if inner_type == 0x0800:
        src, dst, proto_in, _ = _ipv4(f, pos)
        out.update(inner_ip_src=src, inner_ip_dst=dst, inner_ip_proto=proto_in)
    elif inner_type in (0x0806, 0x8035):
        _arp(f, pos, out)


def _lldp(f: bytes, off: int, out: dict[str, Any]) -> None:
    have = 0
    while off <= len(f) and len(f) - off >= 2:
        head = _H.unpack_from(f, off)[0]
        kind, tlen = head >> 9, head & 0x1FF
        off += 2
        _need(off, tlen, len(f))
        value = f[off:off + tlen]
        off += tlen
        if kind == 0:
            break
        if kind in (1, 2) and tlen >= 1:
            ident = value[1:1 + LLDP_ID_MAX]
            if kind == 1:
                out["lldp_chassis"], have = ident, have | 1
            else:
                out["lldp_port"], have = ident, have | 2
        elif kind == 3:
            if tlen != 2:
                raise _Stop(Reject.BAD_LENGTH)
            out["lldp_ttl"], have = _H.unpack(value)[0], have | 4
    if have != 7:
        raise _Stop(Reject.BAD_LENGTH)


def parse_one(f: bytes) -> Record:
    if len(f) < 14:
        return Record(reject=Reject.TRUNCATED)
    out: dict[str, Any] = {"eth_dst": f[0:6], "eth_src": f[6:12]}
    et = _H.unpack_from(f, 12)[0]
    off = 14
    try:
        if et == 0x8100:
            out["ether_type"] = et
            _need(off, 4, len(f))
            out.update(has_vlan=True, vlan_id=_H.unpack_from(f, off)[0] & 0x0FFF)
            et = _H.unpack_from(f, off + 2)[0]
            off += 4
        out["ether_type"] = et
        if et in (0x0806, 0x8035):
            out["kind"] = Kind.ARP if et == 0x0806 else Kind.RARP
            _arp(f, off, out)
        elif et == 0x0800:
            out["kind"] = Kind.IPV4
            src, dst, proto, ihl = _ipv4(f, off)
            out.update(ip_src=src, ip_dst=dst, ip_proto=proto)
            if proto == 47 and _H.unpack_from(f, off + 6)[0] & 0x1FFF == 0:
                _gre(f, off + ihl, out)
        elif et == 0x88CC:
            out["kind"] = Kind.LLDP
            _lldp(f, off, out)
        else:
            out["reject"] = Reject.UNKNOWN
    except _Stop as stop:
        out["reject"] = stop.reject
    return Record(**out)


def parse_batch(frames: list[bytes], meta: list[Meta] | None = None) -> list[Record]:
    records = [parse_one(f) for f in frames]
    if meta is not None:
        records = [replace(r, meta=m) for r, m in zip(records, meta, strict=True)]
    return records
