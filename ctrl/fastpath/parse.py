"""Packet-in parsing, many frames per call: the C batch parser behind a typed wrapper.

    parser = BatchParser()                      # one per controller: it reuses memory
    records = parser.parse(frames, [Meta(in_port, reason, vnet_id), ...])
    for rec in records:
        if rec.kind is Kind.RARP and rec.arp: ...
    kinds = records.column("kind")              # or one field of every frame, no objects

The frames are joined into one buffer and parsed by one C call into one array
of fixed-size records (ext/fp_parse.h); `RecordBatch` makes each Record on
access, so a caller pays for the Python objects it reads. Without the C module
the Python reference (parse_ref.py) gives the same records and columns.
"""

from __future__ import annotations

import struct
import weakref
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, overload

from ctrl.fastpath import parse_ref
from ctrl.fastpath.columns import Fields, RecordList, Records, check_name
from ctrl.fastpath.errors import FrameError, NativeError
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
    RECORD,
    RECORD_SIZE,
)
from ctrl.fastpath.native import Backend, Native, select
from ctrl.fastpath.records import (
    Arp,
    Dhcp,
    Ethernet,
    Gre,
    Ipv4,
    Kind,
    Lldp,
    Meta,
    Record,
    Reject,
    Udp,
    Vlan,
)

_KIND = tuple(Kind)      # Kind(value) costs an enum call; these are indexed by value
_REJECT = tuple(Reject)
_UINT32_LIMIT = 1 << 32
_FRAME_LEN_AT, _FRAME_LEN = OFFSETS["frame_len"][0], struct.Struct("=I")
_FP_E_META = -3
_FP_E_RANGE = -4


@dataclass(frozen=True, slots=True)
class MetaColumns:
    """The packet-in metadata of every frame of a batch, field by field: what a
    controller collects as PacketIns arrive (arrays "H", "B", "H" are taken as they
    are; other sequences are copied). Ranges are checked by the parser."""

    in_port: Sequence[int]
    reason: Sequence[int]
    vnet_id: Sequence[int]

    def __post_init__(self) -> None:
        if not len(self.in_port) == len(self.reason) == len(self.vnet_id):
            raise FrameError("metadata columns of different lengths")

    def __len__(self) -> int:
        return len(self.in_port)

    def arrays(self) -> tuple[array[int], array[int], array[int]]:
        return (_as_array("H", self.in_port), _as_array("B", self.reason),
                _as_array("H", self.vnet_id))

    def as_list(self) -> list[Meta | None]:
        return [Meta(p, r, v) for p, r, v in zip(self.in_port, self.reason, self.vnet_id,
                                                  strict=True)]


def _as_array(code: str, values: Sequence[int]) -> array[int]:
    if isinstance(values, array) and values.typecode == code:
        return values
    try:
        return array(code, values)
    except OverflowError:
        raise FrameError("packet-in metadata out of range (ingress_port < 512, "
                         "vnet_id < 4096, reason < 256)") from None


class RecordBatch(Records):
    """The records of one C batch call; a Record is made when it is read."""

    __slots__ = ("__weakref__", "_count", "_data", "_lens", "_native", "_records", "_starts",
                 "_view")

    def __init__(self, native: Native, data: bytes, lens: array[int], records: Any,
                 starts: array[int] | None = None) -> None:
        self._native = native
        self._data = data      # the frames (end to end, or within messages: `starts`)
        self._lens = lens      # of the frames, or of the messages that hold them
        self._starts = starts  # where each frame starts; from `lens` when first needed
        self._records = records  # the C records (cdata, never handed out)
        self._count = len(lens)
        self._view = memoryview(native.ffi.buffer(records))[:self._count * RECORD_SIZE]

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, i: int) -> Record: ...

    @overload
    def __getitem__(self, i: slice) -> list[Record]: ...

    def __getitem__(self, i: int | slice) -> Record | list[Record]:
        if isinstance(i, slice):
            return [self._record(j) for j in range(*i.indices(self._count))]
        if not -self._count <= i < self._count:
            raise IndexError(f"record {i} of {self._count}")
        return self._record(i % self._count)

    def __iter__(self) -> Iterator[Record]:
        for i in range(self._count):
            yield self._record(i)

    def _record(self, i: int) -> Record:
        return _decode(RECORD.unpack_from(self._view, i * RECORD_SIZE), self._data, self, i)

    def column(self, field: str) -> array[int]:
        """One field of every record, read by C: "kind", "eth_src", "arp.spa", ...
        (columns.NAMES; the values are described there)."""
        offset, code = check_name(field)
        out = array(code, bytes(self._count * array(code).itemsize))
        ffi = self._native.ffi
        rc = self._native.lib.fp_column(self._records, self._count, offset, out.itemsize,
                                        ffi.from_buffer("uint8_t[]", out, require_writable=True))
        if rc != 0:
            raise NativeError(f"fp_column returned {rc} for {field}")
        return out

    def rows(self, fields: Fields, idx: Sequence[int]) -> array[int]:
        """`fields` of the records idx, row after row, read by C in one call."""
        n, k = len(idx), len(fields.names)
        try:
            rows = idx if isinstance(idx, array) and idx.typecode == "I" else array("I", idx)
        except OverflowError:
            raise IndexError(f"rows {list(idx)} of {self._count}") from None
        out = array("Q", bytes(8 * n * k))
        ffi = self._native.ffi
        rc = self._native.lib.fp_rows(
            self._records, self._count, ffi.from_buffer("uint32_t[]", rows), n,
            ffi.from_buffer("uint32_t[]", fields.offsets),
            ffi.from_buffer("uint8_t[]", fields.widths), k,
            ffi.from_buffer("uint64_t[]", out, require_writable=True))
        if rc == _FP_E_RANGE:
            raise IndexError(f"rows {list(idx)} of {self._count}")
        if rc != 0:
            raise NativeError(f"fp_rows returned {rc}")
        return out

    def raw(self) -> tuple[bytes, array[int], Any]:
        """The frames' buffer, where each frame starts in it, and the C records: for the
        other C calls of this package (quiet.py), never handed out further."""
        if self._starts is None:
            self._starts = array("I", accumulate(self._lens, initial=0))
        return self._data, self._starts, self._records

    def frame(self, i: int) -> bytes:
        """Frame i itself (a copy)."""
        start = self.start(i)
        (length,) = _FRAME_LEN.unpack_from(self._view, i * RECORD_SIZE + _FRAME_LEN_AT)
        return self._data[start:start + length]

    def start(self, i: int) -> int:
        """Where frame i starts in the joined frames."""
        if self._starts is None:
            self._starts = array("I", accumulate(self._lens, initial=0))
        return self._starts[i]


def _decode(t: tuple[Any, ...], data: bytes, batch: RecordBatch, i: int) -> Record:
    (kind, reject, layers, frame_len, ether_type, vlan_tci, inner_ether_type, eth_dst, eth_src,
     m_port, m_vnet, m_reason, _m_present,
     a_sha, a_tha, a_spa, a_tpa, a_oper,
     ip_src, ip_dst, ip_proto, ip_ttl,
     g_flags, g_proto, g_key,
     l_coff, l_clen, l_poff, l_plen, l_ttl, l_csub, l_psub,
     i_src, i_dst, i_proto, i_ttl,
     sport, dport, inner_dst, inner_src,
     d_chaddr, d_xid, d_ciaddr, d_yiaddr, d_req, d_op, d_msg) = t
    arp = Arp(a_oper, a_sha, a_spa, a_tha, a_tpa) if layers & (L_ARP | L_INNER_ARP) else None
    lldp = None
    if layers & L_LLDP:
        start = batch.start(i)
        c, p = start + l_coff, start + l_poff
        lldp = Lldp(l_csub, data[c:c + l_clen], l_psub, data[p:p + l_plen], l_ttl)
    return Record(
        kind=_KIND[kind], reject=_REJECT[reject], frame_len=frame_len,
        eth=Ethernet(eth_dst, eth_src, ether_type) if layers & L_ETH else None,
        vlan=Vlan(vlan_tci) if layers & L_VLAN else None,
        arp=arp if layers & L_ARP else None,
        ipv4=Ipv4(ip_src, ip_dst, ip_proto, ip_ttl) if layers & L_IPV4 else None,
        udp=Udp(sport, dport) if layers & L_UDP else None,
        dhcp=Dhcp(d_op, d_xid, d_ciaddr, d_yiaddr, d_chaddr, d_msg, d_req)
        if layers & L_DHCP else None,
        gre=Gre(g_flags, g_proto, g_key) if layers & L_GRE else None,
        inner_eth=Ethernet(inner_dst, inner_src, inner_ether_type)
        if layers & L_INNER_ETH else None,
        inner_arp=arp if layers & L_INNER_ARP else None,
        inner_ipv4=Ipv4(i_src, i_dst, i_proto, i_ttl) if layers & L_INNER_IPV4 else None,
        lldp=lldp,
        meta=Meta(m_port, m_reason, m_vnet) if layers & L_META else None,
    )


MetaArg = Sequence[Meta | None] | MetaColumns | None


def parse_batch(frames: Sequence[bytes], meta: MetaArg = None, *,
                backend: Backend = Backend.AUTO) -> Records:
    """The record of each frame, in order; `meta`, where given, is the frames'
    P4Runtime packet-in metadata (one Meta or None per frame, or MetaColumns),
    copied into their records. Memory for the records is taken anew: a caller
    parsing batch after batch does better with one BatchParser.

    Raises FrameError for arguments it cannot take, never for a frame's content:
    a frame it cannot parse gets a record with a `reject` reason.
    """
    return BatchParser(backend).parse(frames, meta)


class BatchParser:
    """Parses batch after batch, reusing the memory of the records of a batch that
    is gone (freshly mapped memory costs more to touch than parsing it takes)."""

    __slots__ = ("__weakref__", "_native", "_spare")

    def __init__(self, backend: Backend = Backend.AUTO) -> None:
        self._native = select(backend)
        self._spare: list[Any] = []   # at most one record array, back from a dead batch

    def parse(self, frames: Sequence[bytes], meta: MetaArg = None) -> Records:
        """As parse_batch()."""
        if meta is not None and len(meta) != len(frames):
            raise FrameError(f"{len(meta)} metadata for {len(frames)} frames")
        if self._native is None:
            if isinstance(meta, MetaColumns):
                meta = meta.as_list()
            return RecordList(parse_ref.parse_batch(frames, meta))
        return self._parse_native(self._native, frames, meta)

    def _parse_native(self, native: Native, frames: Sequence[bytes], meta: MetaArg
                      ) -> RecordBatch:
        try:
            data = b"".join(frames)
        except TypeError as exc:
            raise FrameError(f"frames must be bytes: {exc}") from None
        if len(data) >= _UINT32_LIMIT:
            raise FrameError(f"{len(data)} bytes of frames in one batch; at most 4 GiB")
        lens = array("I", map(len, frames))
        n = len(lens)
        ffi = native.ffi
        out = self._records(native, n)
        keep: list[object] = []
        c_meta = ffi.NULL if meta is None else _meta_cols(native, meta, keep)
        rc = native.lib.fp_parse_batch(ffi.from_buffer("uint8_t[]", data), len(data),
                                       ffi.from_buffer("uint32_t[]", lens), n, c_meta, out)
        if rc == _FP_E_META:
            raise FrameError("packet-in metadata out of range (ingress_port < 512, "
                             "vnet_id < 4096, present 0 or 1)")
        if rc != 0:
            raise NativeError(f"fp_parse_batch returned {rc} for {n} frames")
        batch = RecordBatch(native, data, lens, out)
        weakref.finalize(batch, self._recycle, out)
        return batch

    def _records(self, native: Native, n: int) -> Any:
        if self._spare and len(self._spare[0]) >= n:
            return self._spare.pop()
        return native.alloc_records("fp_record[]", max(n, 1))  # not zeroed: C clears each

    def _recycle(self, out: Any) -> None:
        if not self._spare or len(self._spare[0]) < len(out):
            self._spare[:] = [out]


def _meta_cols(native: Native, meta: Sequence[Meta | None] | MetaColumns, keep: list[object]
               ) -> Any:
    """An fp_meta_cols over arrays of the metadata; `keep` holds what it points into."""
    ffi = native.ffi
    present: Any = ffi.NULL
    if isinstance(meta, MetaColumns):
        cols = meta.arrays()
    else:
        cols = (array("H", [0 if m is None else m.in_port for m in meta]),
                array("B", [0 if m is None else m.reason for m in meta]),
                array("H", [0 if m is None else m.vnet_id for m in meta]))
        flags = bytes([m is not None for m in meta])
        if 0 in flags:
            keep.append(flags)
            present = ffi.from_buffer("uint8_t[]", flags)
    keep.extend(cols)
    return ffi.new("fp_meta_cols *", {
        "in_port": ffi.from_buffer("uint16_t[]", cols[0]),
        "reason": ffi.from_buffer("uint8_t[]", cols[1]),
        "vnet_id": ffi.from_buffer("uint16_t[]", cols[2]),
        "present": present})
