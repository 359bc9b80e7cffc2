"""Typed wrappers over the C parser (ctrl._fastpath), with the Python reference as fallback.

The C module is built by the package install (setup.py, cffi out-of-line API
mode). Where it is missing, the same records come from parse_ref, and that is
said once in the log.
"""

from __future__ import annotations

import logging
import struct
from array import array
from collections.abc import Iterator, Sequence
from functools import cache
from itertools import accumulate
from types import ModuleType
from typing import Any

from ctrl.fastpath import parse_ref
from ctrl.fastpath.records import Kind, Meta, Record, Reject

log = logging.getLogger(__name__)

# fp_record, field by field, as laid out by the C compiler (no implicit padding).
_RECORD = struct.Struct("<4B2H6s6s2H6s6s5I2H6s6s2I4BH2BHH32s32s")


class FastPathError(ValueError):
    """Arguments the parser cannot take (a frame too large, metadata of another length)."""


@cache
def c_module() -> ModuleType | None:
    """ctrl._fastpath, or None (said once) when the C extension was not built."""
    try:
        from ctrl import _fastpath  # type: ignore[attr-defined]
    except ImportError:
        log.warning("the C fast path is not built; parsing with the Python reference")
        return None
    if _fastpath.ffi.sizeof("fp_record") != _RECORD.size:
        log.warning("the C fast path's record layout differs; using the Python reference")
        return None
    return _fastpath  # type: ignore[no-any-return]


class RecordBatch(Sequence[Record]):
    """Parsed frames. The C parser's output stays where it was written; records are made on
    access (a Record is a Python object, never cdata)."""

    def __init__(self, raw: bytes | memoryview | Any, count: int, keep: object = None) -> None:
        self._raw = memoryview(raw)  # a view of the C records; `keep` holds their memory
        self._keep = keep
        self._count = count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i: int) -> Record:  # type: ignore[override]
        if not -self._count <= i < self._count:
            raise IndexError(i)
        return _record(_RECORD.unpack_from(self._raw, (i % self._count) * _RECORD.size))

    def __iter__(self) -> Iterator[Record]:
        return (_record(fields) for fields in _RECORD.iter_unpack(self._raw))

    def kinds(self) -> bytes:
        """Each frame's Kind as one byte, without making records."""
        return bytes(self._raw)[0::_RECORD.size]


def _record(t: tuple[object, ...]) -> Record:
    (kind, reject, has_vlan, ip_proto, ether_type, vlan_id, eth_dst, eth_src, arp_oper,
     gre_flags, arp_sha, arp_tha, arp_spa, arp_tpa, ip_src, ip_dst, gre_key, inner_et, ttl,
     inner_dst, inner_src, inner_ip_src, inner_ip_dst, inner_ip_proto, chassis_len, port_len,
     has_meta, in_port, reason, _pad0, vnet_id, _pad1, chassis, port_id) = t
    assert isinstance(chassis, bytes) and isinstance(port_id, bytes)
    assert isinstance(chassis_len, int) and isinstance(port_len, int)
    return Record(
        kind=Kind(kind), reject=Reject(reject), ether_type=ether_type,  # type: ignore[arg-type]
        has_vlan=bool(has_vlan), vlan_id=vlan_id, eth_dst=eth_dst,  # type: ignore[arg-type]
        eth_src=eth_src, arp_oper=arp_oper, arp_sha=arp_sha,  # type: ignore[arg-type]
        arp_spa=arp_spa, arp_tha=arp_tha, arp_tpa=arp_tpa,  # type: ignore[arg-type]
        ip_src=ip_src, ip_dst=ip_dst, ip_proto=ip_proto,  # type: ignore[arg-type]
        gre_flags=gre_flags, gre_key=gre_key, inner_ether_type=inner_et,  # type: ignore[arg-type]
        inner_dst=inner_dst, inner_src=inner_src,  # type: ignore[arg-type]
        inner_ip_src=inner_ip_src, inner_ip_dst=inner_ip_dst,  # type: ignore[arg-type]
        inner_ip_proto=inner_ip_proto,  # type: ignore[arg-type]
        lldp_chassis=chassis[:chassis_len], lldp_port=port_id[:port_len],
        lldp_ttl=ttl,  # type: ignore[arg-type]
        meta=Meta(in_port, reason, vnet_id) if has_meta else None,  # type: ignore[arg-type]
    )


def parse_batch(frames: Sequence[bytes], meta: Sequence[Meta] | None = None
                ) -> Sequence[Record]:
    """Records for many frames in one call: C where built, else the Python reference."""
    if meta is not None and len(meta) != len(frames):
        raise FastPathError(f"{len(meta)} metadata for {len(frames)} frames")
    lib = c_module()
    if lib is None:
        return parse_ref.parse_batch(list(frames), None if meta is None else list(meta))
    n = len(frames)
    if n == 0:
        return RecordBatch(b"", 0)
    data = b"".join(frames)
    if len(data) >= 1 << 32:
        raise FastPathError("a batch holds less than 4 GiB of frames")
    lengths = array("I", map(len, frames))
    offsets = array("I", accumulate(lengths, initial=0))
    ffi = lib.ffi
    out = ffi.new("fp_record[]", n)
    done = lib.lib.fp_parse_batch(ffi.from_buffer("uint8_t[]", data), len(data),
                                  ffi.from_buffer("uint32_t[]", offsets),
                                  ffi.from_buffer("uint32_t[]", lengths), n, out)
    if done != n:
        raise FastPathError("the C parser refused the batch")
    if meta is not None:
        lib.lib.fp_set_meta(
            out, n, ffi.from_buffer("uint16_t[]", array("H", (m.in_port for m in meta))),
            ffi.from_buffer("uint8_t[]", array("B", (m.reason for m in meta))),
            ffi.from_buffer("uint16_t[]", array("H", (m.vnet_id for m in meta))))
    return RecordBatch(ffi.buffer(out), n, keep=out)
