"""P4Runtime Write encoding in C: the common table-entry updates -> their bytes, one C call.

    encoder = native_encoder(resolve)        # None where the C module is not built
    body = encoder.encode(updates, slow)     # every update as a WriteRequest.updates field

`resolve(table, action)` says which entries the caller covers and how (their `Shape`:
ids and bit widths; ctrl/p4rt/wire.py gives exact-match tables with an action allowed
in entries). An update it covers, with plain non-negative ints that fit, is encoded in
C (ext/fp_p4rt_enc.h); any other is `slow(update)`, the caller's bytes for it, in its
place. Here Python only gathers the ints: about a sixth of the cost of making the
bytes in Python (bench/bench_p4runtime_writes.py).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from ctrl.fastpath.native import Native, load
from ctrl.p4rt.entity import TableEntry, Update, UpdateType

_KINDS = {UpdateType.INSERT: 1, UpdateType.MODIFY: 2, UpdateType.DELETE: 3}
_MISSING = object()
_U32 = 1 << 32
_GUESS = 48          # bytes an update takes, at first; C says how many when more
_PER_VALUE = 24


@dataclass(frozen=True, slots=True)
class Shape:
    """What an entry of one table with one action is: ids, and its match fields then its
    parameters as (name, id, bit width), each in id order."""

    table_id: int
    action_id: int
    fields: tuple[tuple[str, int, int], ...]
    params: tuple[tuple[str, int, int], ...]


Resolve = Callable[[str, str], Shape | None]
_Known = tuple[int, tuple[str, ...], tuple[str, ...]]   # index, field names, param names


class UpdateEncoder:
    """Encodes the updates of Write after Write for one P4Info (its shapes kept)."""

    def __init__(self, native: Native, resolve: Resolve) -> None:
        self._ffi, self._lib, self._alloc = native.ffi, native.lib, native.alloc_records
        self._length = self._ffi.new("size_t *")
        self._resolve = resolve
        self._known: dict[tuple[str, str], _Known | None] = {}
        self._width: list[int] = []   # by shape index: its values (fields + parameters)
        self._c_shapes: Any = self._ffi.new("fp_p4rt_shape[]", 1)
        self._slot_id, self._slot_bits = array("I"), array("I")
        self._c_slots: tuple[Any, Any] = self._slot_buffers()

    def _slot_buffers(self) -> tuple[Any, Any]:
        """The slot arrays as C sees them (remade when a shape adds slots)."""
        ffi = self._ffi
        return (ffi.from_buffer("uint32_t[]", self._slot_id),
                ffi.from_buffer("uint32_t[]", self._slot_bits))

    def _add(self, table: str, action: str) -> _Known | None:
        shape = self._resolve(table, action)
        slots = () if shape is None else shape.fields + shape.params
        if shape is None or not (0 <= shape.table_id < _U32 and 0 <= shape.action_id < _U32
                                 and all(0 <= i < _U32 and b > 0 for _, i, b in slots)):
            self._known[table, action] = None
            return None
        known = (len(self._width), tuple(n for n, _, _ in shape.fields),
                 tuple(n for n, _, _ in shape.params))
        first = len(self._slot_id)
        # New arrays: C holds the old ones' buffers, which cannot grow.
        self._slot_id = self._slot_id + array("I", (i for _, i, _ in slots))
        self._slot_bits = self._slot_bits + array("I", (min(b, 64) for _, _, b in slots))
        self._width.append(len(slots))
        c = self._ffi.new("fp_p4rt_shape[]", len(self._width))
        for k in range(len(self._width) - 1):
            c[k] = self._c_shapes[k]
        c[known[0]] = {"table_id": shape.table_id, "action_id": shape.action_id,
                       "first": first, "nfields": len(shape.fields),
                       "nparams": len(shape.params)}
        self._c_shapes = c
        self._c_slots = self._slot_buffers()
        self._known[table, action] = known
        return known

    def encode(self, updates: Sequence[Update], slow: Callable[[Update], bytes]) -> bytes:
        """Every update as a WriteRequest.updates field, in order."""
        parts: list[bytes] = []
        first = 0   # where the run of gathered updates began
        kinds, shapes, values = array("B"), array("I"), array("Q")
        known_of, kinds_of, add = self._known, _KINDS, values.append
        for at, u in enumerate(updates):
            e = u.entity
            kind = kinds_of.get(u.type)
            known: _Known | None = None
            if (kind is not None and type(e) is TableEntry and not e.is_default
                    and e.counter is None and type(e.priority) is int and not e.priority
                    and type(e.table) is str and type(e.action) is str):
                got = known_of.get((e.table, e.action), _MISSING)
                known = self._add(e.table, e.action) if got is _MISSING else got  # type: ignore[assignment]
            if known is not None:
                index, fields, params = known
                m, p = e.match, e.params   # type: ignore[union-attr]
                mark = len(values)
                try:   # exactly the shape's names, each a non-negative int under 2^64
                    if type(m) is not dict or type(p) is not dict or len(m) != len(fields) \
                            or len(p) != len(params):
                        raise TypeError
                    for name in fields:
                        v = m[name]
                        if type(v) is not int:
                            raise TypeError
                        add(v)
                    for name in params:
                        v = p[name]
                        if type(v) is not int:
                            raise TypeError
                        add(v)
                except (KeyError, TypeError, OverflowError):
                    del values[mark:]
                else:
                    kinds.append(kind)   # type: ignore[arg-type]
                    shapes.append(index)
                    continue
            if kinds:
                parts += self._run(updates[first:at], kinds, shapes, values, slow)
                del kinds[:], shapes[:], values[:]
            parts.append(slow(u))
            first = at + 1
        if kinds:
            parts += self._run(updates[first:], kinds, shapes, values, slow)
        return b"".join(parts)

    def _run(self, run: Sequence[Update], kinds: array[int], shapes: array[int],
             values: array[int], slow: Callable[[Update], bytes]) -> list[bytes]:
        """A run of gathered updates in C; one whose value is too wide for its field goes
        to `slow`, and C takes up again after it."""
        out: list[bytes] = []
        lo = base = 0   # the first update of the rest, and where its values begin
        while lo < len(run):
            got, bad = self._call(kinds[lo:], shapes[lo:], values[base:])
            if got is not None:
                out.append(got)
                break
            bad += lo
            ends = base + sum(self._width[s] for s in shapes[lo:bad])
            if bad > lo:
                got, _ = self._call(kinds[lo:bad], shapes[lo:bad], values[base:ends])
                if got is None:
                    raise AssertionError("fp_p4rt_encode refused updates it had taken")
                out.append(got)
            out.append(slow(run[bad]))
            lo, base = bad + 1, ends + self._width[shapes[bad]]
        return out

    def _call(self, kinds: array[int], shapes: array[int], values: array[int]
              ) -> tuple[bytes | None, int]:
        """(the bytes, 0), or (None, the index of the first update with a value too wide)."""
        ffi, lib, length = self._ffi, self._lib, self._length
        slot_id, slot_bits = self._c_slots
        cap = _GUESS * len(kinds) + _PER_VALUE * len(values)
        for _ in range(2):
            out = self._alloc("uint8_t[]", max(cap, 1))   # not zeroed: C writes what it says
            status = lib.fp_p4rt_encode(
                self._c_shapes, len(self._width), slot_id, slot_bits, len(self._slot_id),
                ffi.from_buffer("uint8_t[]", kinds), ffi.from_buffer("uint32_t[]", shapes),
                len(kinds), ffi.from_buffer("uint64_t[]", values), len(values),
                out, cap, length)
            if status == lib.FP_ENC_OK:
                return ffi.buffer(out, length[0])[:], 0
            if status == lib.FP_ENC_E_VALUE:
                return None, int(length[0])
            if status != lib.FP_ENC_E_CAPACITY:
                raise AssertionError(f"fp_p4rt_encode: status {status} on gathered updates")
            cap = int(length[0])
        raise AssertionError("fp_p4rt_encode: not enough room twice")


@cache
def _has_encoder(native: Native) -> bool:
    return hasattr(native.lib, "fp_p4rt_encode")


def native_encoder(resolve: Resolve) -> UpdateEncoder | None:
    """An UpdateEncoder where the C module is built with the encoder, else None."""
    native = load()
    if native is None or not _has_encoder(native):
        return None
    return UpdateEncoder(native, resolve)
