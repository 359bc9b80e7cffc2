"""P4Runtime Write decoding in C: a serialized p4.v1.WriteRequest -> a WriteBatch of columns.

    compiled = CompiledSchema.from_p4schema(schema)      # once per P4Info
    decoder = WriteDecoder(compiled)                     # one per server: it reuses memory
    batch = decoder.decode(raw_request_bytes)
    for u in batch.fast_updates():                       # plain ints, with a verdict
        if u.verdict is Verdict.OK: entry = compiled.table_entry(u)
    for i in batch.slow_indexes():                       # the rare rest, on protobuf
        msg = batch.update_message(i)

The C decoder (ext/fp_p4rt.h) fills caller-sized arrays; the wrapper sizes them
from the request's length, and again from the counts C reports if a request
holds more than that guess. Without the C module the reference on protobuf
(p4rt_ref.py) gives the same batch.
"""

from __future__ import annotations

import logging
from array import array
from dataclasses import dataclass, fields
from functools import cache
from typing import Any

from ctrl.fastpath import p4rt_ref
from ctrl.fastpath.errors import (
    FastPathError,
    MalformedWriteError,
    NativeError,
    NotBuiltError,
    UnsupportedWriteError,
    WriteDecodeError,
)
from ctrl.fastpath.native import Backend, Native, select
from ctrl.fastpath.p4rt_batch import (
    ACTION,
    COLUMNS,
    DEFAULT,
    FAST,
    NO_VERDICT,
    VALUE_MAX,
    Columns,
    Verdict,
    WriteBatch,
    WriteHeader,
)
from ctrl.fastpath.p4rt_schema import F_EXACT, R_DEFAULT_ONLY, T_CONST_DEFAULT, CompiledSchema

log = logging.getLogger(__name__)

_U32_LIMIT = 1 << 32
_MIN_UPDATE_BYTES = 32   # the first guess of how many updates a request holds: 1 per 32 bytes


def decode_write(data: bytes, schema: CompiledSchema | None, *,
                 backend: Backend = Backend.AUTO) -> WriteBatch:
    """The header and updates of a serialized WriteRequest, each update fast (decoded,
    with its verdict against `schema`) or slow (for protobuf). A decoder kept from call
    to call (WriteDecoder) reuses its memory.

    MalformedWriteError for bytes protobuf would refuse too; UnsupportedWriteError for a
    request that only protobuf can read (a group outside the updates).
    """
    return WriteDecoder(schema, backend).decode(data)


@cache
def _native_p4rt(native: Native) -> bool:
    """Whether the module has the Write decoder, with this package's constants."""
    lib = native.lib
    if not hasattr(lib, "fp_p4rt_decode"):
        log.warning("ctrl._fastpath has no Write decoder (built from older sources): "
                    "P4Runtime Writes are decoded by the Python reference")
        return False
    want = {"FP_U_FAST": FAST, "FP_U_DEFAULT": DEFAULT, "FP_U_ACTION": ACTION,
            "FP_V_NONE": NO_VERDICT, "FP_P4RT_VALUE_MAX": VALUE_MAX,
            "FP_T_CONST_DEFAULT": T_CONST_DEFAULT, "FP_F_EXACT": F_EXACT,
            "FP_R_DEFAULT_ONLY": R_DEFAULT_ONLY,
            **{f"FP_V_{v.name}": v.value for v in Verdict}}
    wrong = sorted(name for name, value in want.items() if getattr(lib, name, None) != value)
    if wrong:
        log.warning("ctrl._fastpath was built from other sources (%s differ): P4Runtime "
                    "Writes are decoded by the Python reference", ", ".join(wrong))
    return not wrong


def native_decoder() -> bool:
    """Whether decode_write runs in C here (else on the protobuf reference, slower than
    protobuf alone)."""
    return _select(Backend.AUTO) is not None


def _select(backend: Backend) -> Native | None:
    native = select(backend)
    if native is None or _native_p4rt(native):
        return native
    if backend is Backend.NATIVE:
        raise NotBuiltError("ctrl._fastpath is built without the Write decoder")
    return None


@dataclass(slots=True)
class _Arrays:
    """The C side's arrays (not zeroed: C writes every entry it reports) and fp_p4rt_cols."""

    cols: Any
    keep: list[Any]

    @classmethod
    def make(cls, native: Native, updates: int, matches: int, params: int, seen: int
             ) -> _Arrays:
        alloc, cols = native.alloc_records, native.ffi.new("fp_p4rt_cols *")
        caps = {"u": updates, "m": matches, "p": params}
        keep = []
        for name, _, ctype in COLUMNS:
            buf = alloc(f"{ctype}[]", max(caps[name[0]], 1))
            setattr(cols, name, buf)
            keep.append(buf)
        # The owning cdata is kept, not cols.seen: that is a bare pointer, and the array
        # would be freed under C's feet.
        seen_buf = alloc("uint32_t[]", max(seen, 1))
        cols.seen = seen_buf
        keep.append(seen_buf)
        cols.cap_updates, cols.cap_matches, cols.cap_params, cols.cap_seen = (
            updates, matches, params, seen)
        return cls(cols, keep)


class WriteDecoder:
    """Decodes Write after Write against one P4Info, reusing its C arrays."""

    __slots__ = ("_arrays", "_c_schema", "_native", "schema")

    def __init__(self, schema: CompiledSchema | None, backend: Backend = Backend.AUTO) -> None:
        self.schema = schema
        self._native = _select(backend)
        self._arrays: _Arrays | None = None
        self._c_schema: tuple[Any, list[Any]] | None = None
        if self._native is not None and schema is not None:
            self._c_schema = _c_schema(self._native, schema)

    def decode(self, data: bytes) -> WriteBatch:
        """As decode_write()."""
        if not isinstance(data, bytes):
            raise WriteDecodeError(f"a WriteRequest is bytes, not {type(data).__name__}")
        if len(data) >= _U32_LIMIT:
            raise WriteDecodeError(f"{len(data)} bytes: at most 4 GiB in one request")
        if self._native is None:
            return p4rt_ref.decode(data, self.schema)
        return self._decode_native(self._native, data)

    def _decode_native(self, native: Native, data: bytes) -> WriteBatch:
        ffi, lib = native.ffi, native.lib
        guess = len(data) // _MIN_UPDATE_BYTES + 8
        arrays = self._fit(native, guess, 2 * guess, guess)
        req = ffi.new("fp_p4rt_request *")
        schema = ffi.NULL if self._c_schema is None else self._c_schema[0]
        buf = ffi.from_buffer("uint8_t[]", data)
        rc = lib.fp_p4rt_decode(buf, len(data), schema, arrays.cols, req)
        if rc == lib.FP_E_CAPACITY:
            arrays = self._fit(native, req.n_updates, req.n_matches, req.n_params)
            rc = lib.fp_p4rt_decode(buf, len(data), schema, arrays.cols, req)
        if rc == lib.FP_E_MALFORMED:
            raise MalformedWriteError("not a p4.v1.WriteRequest (protobuf refuses it too)")
        if rc == lib.FP_E_UNSUPPORTED:
            raise UnsupportedWriteError("a group in the WriteRequest: parse it with protobuf")
        if rc != lib.FP_OK:
            raise NativeError(f"fp_p4rt_decode returned {rc} for {len(data)} bytes")
        counts = {"u": req.n_updates, "m": req.n_matches, "p": req.n_params}
        cols = Columns(**{name: _copy(ffi, getattr(arrays.cols, name), code, counts[name[0]])
                          for name, code, _ in COLUMNS})
        role = data[req.role_offset:req.role_offset + req.role_length].decode()
        header = WriteHeader(req.device_id, req.role_id, role,
                             req.election_high << 64 | req.election_low,
                             bool(req.has_election_id), req.atomicity)
        return WriteBatch(data, header, cols, req.n_slow)

    def _fit(self, native: Native, updates: int, matches: int, params: int) -> _Arrays:
        """Arrays at least this large: the ones kept, or larger ones kept from now on."""
        seen = 0 if self.schema is None else len(self.schema.field_id) + len(
            self.schema.param_id)
        a = self._arrays
        if a is None or a.cols.cap_updates < updates or a.cols.cap_matches < matches \
                or a.cols.cap_params < params:
            if a is not None:  # grow in steps, not to each request's exact size
                updates = max(updates, 2 * a.cols.cap_updates)
                matches = max(matches, 2 * a.cols.cap_matches)
                params = max(params, 2 * a.cols.cap_params)
            a = self._arrays = _Arrays.make(native, updates, matches, params, seen)
        return a


def _copy(ffi: Any, buf: Any, code: str, n: int) -> array[int]:
    out = array(code)
    out.frombytes(ffi.buffer(buf, n * out.itemsize))
    return out


def _c_schema(native: Native, s: CompiledSchema) -> tuple[Any, list[Any]]:
    """An fp_p4rt_schema over the CompiledSchema's arrays, checked by C, and what it
    points into."""
    ffi = native.ffi
    _check_lengths(s)
    keep: dict[str, Any] = {}
    ctypes = {"B": "uint8_t[]", "I": "uint32_t[]"}
    for f in fields(s):
        value = getattr(s, f.name)
        if isinstance(value, array):
            keep[f.name] = ffi.from_buffer(ctypes[value.typecode], value)
    ptr = ffi.new("fp_p4rt_schema *", {
        **keep, "ntables": len(s.table_id), "nfields": len(s.field_id),
        "nrefs": len(s.ref_action), "nactions": len(s.action_id), "nparams": len(s.param_id)})
    rc = native.lib.fp_p4rt_schema_check(ptr)
    if rc != native.lib.FP_OK:
        raise FastPathError(f"the compiled schema's arrays do not hold together ({rc})")
    return ptr, list(keep.values())


def _check_lengths(s: CompiledSchema) -> None:
    """The arrays' lengths agree, so that C reads only inside them."""
    nt, nf, nr, na, np = (len(s.table_id), len(s.field_id), len(s.ref_action),
                          len(s.action_id), len(s.param_id))
    want = {"table_flags": nt, "table_field_first": nt + 1, "table_ref_first": nt + 1,
            "field_bits": nf, "field_flags": nf, "ref_flags": nr, "action_param_first": na + 1,
            "param_bits": np}
    wrong = [name for name, n in want.items() if len(getattr(s, name)) != n]
    if wrong or any(len(a) >= _U32_LIMIT for a in (s.table_id, s.field_id, s.ref_action,
                                                     s.action_id, s.param_id)):
        raise FastPathError(f"the compiled schema's arrays have the wrong lengths: {wrong}")
