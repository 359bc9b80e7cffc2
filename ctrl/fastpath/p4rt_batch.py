"""What decoding a P4Runtime WriteRequest gives: its header, and its updates in columns.

The columns are those of ext/fp_p4rt.h, as arrays: per update (u_*), per match
(m_*) and per action parameter (p_*); update i's matches are
m_*[u_match_first[i] : + u_match_count[i]]. A fast update (FAST in u_flags) was
decoded whole, with a verdict against the P4Info; a slow one holds only where
its p4.v1.Update message lies in the request, for protobuf to parse
(`update_message`). Both backends (C and the protobuf reference) give these.
"""

from __future__ import annotations

import enum
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import NamedTuple

from google.protobuf.message import DecodeError

from ctrl.fastpath.errors import MalformedWriteError
from ctrl.p4rt.proto import p4r, rpc_code

# u_flags bits (enum fp_p4rt_flag)
FAST, DEFAULT, ACTION = 0x01, 0x02, 0x04
NO_VERDICT = 255  # FP_V_NONE: a slow update
VALUE_MAX = 8     # longer values make an update slow


class Verdict(enum.IntEnum):
    """What parse_update() of ctrl/targets/ovs/validate.py says of a fast update
    (enum fp_p4rt_verdict): the first of its checks that fails, in its order."""

    OK = 0
    BAD_TYPE = 1
    UNKNOWN_TABLE = 2
    DEFAULT_NOT_MODIFY = 3
    DEFAULT_HAS_MATCH = 4
    CONST_DEFAULT = 5
    PRIORITY = 6
    UNKNOWN_FIELD = 7
    DUPLICATE_FIELD = 8
    NOT_EXACT = 9
    EMPTY_VALUE = 10
    FIELD_TOO_WIDE = 11
    MISSING_FIELD = 12
    NO_ACTION = 13
    UNKNOWN_ACTION = 14
    ACTION_NOT_IN_TABLE = 15
    DEFAULT_ONLY_ACTION = 16
    UNKNOWN_PARAM = 17
    DUPLICATE_PARAM = 18
    EMPTY_PARAM = 19
    PARAM_TOO_WIDE = 20
    MISSING_PARAM = 21

    @property
    def code(self) -> int:
        """The google.rpc code parse_update() raises (OK for OK)."""
        if self is Verdict.OK:
            return int(rpc_code.OK)
        if self in (Verdict.FIELD_TOO_WIDE, Verdict.PARAM_TOO_WIDE):
            return int(rpc_code.OUT_OF_RANGE)
        if self is Verdict.CONST_DEFAULT:
            return int(rpc_code.PERMISSION_DENIED)
        return int(rpc_code.INVALID_ARGUMENT)


_VERDICTS: tuple[Verdict | None, ...] = tuple(
    Verdict(v) if v in Verdict._value2member_map_ else None for v in range(256))


@dataclass(frozen=True, slots=True)
class Columns:
    """The columns of ext/fp_p4rt.h (array typecodes as in COLUMNS)."""

    u_type: array[int]
    u_flags: array[int]
    u_verdict: array[int]
    u_table: array[int]
    u_priority: array[int]
    u_match_first: array[int]
    u_match_count: array[int]
    u_action: array[int]
    u_param_first: array[int]
    u_param_count: array[int]
    u_offset: array[int]
    u_length: array[int]
    m_field: array[int]
    m_value: array[int]
    m_len: array[int]
    p_param: array[int]
    p_value: array[int]
    p_len: array[int]


# (column, array typecode, C type): the one description both backends fill.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("u_type", "B", "uint8_t"), ("u_flags", "B", "uint8_t"), ("u_verdict", "B", "uint8_t"),
    ("u_table", "I", "uint32_t"), ("u_priority", "i", "int32_t"),
    ("u_match_first", "I", "uint32_t"), ("u_match_count", "I", "uint32_t"),
    ("u_action", "I", "uint32_t"), ("u_param_first", "I", "uint32_t"),
    ("u_param_count", "I", "uint32_t"), ("u_offset", "I", "uint32_t"),
    ("u_length", "I", "uint32_t"),
    ("m_field", "I", "uint32_t"), ("m_value", "Q", "uint64_t"), ("m_len", "B", "uint8_t"),
    ("p_param", "I", "uint32_t"), ("p_value", "Q", "uint64_t"), ("p_len", "B", "uint8_t"),
)
assert tuple(c[0] for c in COLUMNS) == tuple(f.name for f in fields(Columns))


@dataclass(frozen=True, slots=True)
class WriteHeader:
    """The WriteRequest's own fields, as protobuf reads them."""

    device_id: int
    role_id: int
    role: str
    election_id: int       # high << 64 | low; 0 when absent
    has_election_id: bool
    atomicity: int         # p4r.WriteRequest.Atomicity, or whatever int32 came


class FastUpdate(NamedTuple):
    """One fast update, as plain ints."""

    position: int                          # in the request's updates
    type: int                              # p4r.Update.Type; 0 when absent
    table_id: int
    priority: int
    is_default: bool
    action_id: int | None                  # None: no direct action in the entry
    matches: tuple[tuple[int, int], ...]   # (field_id, value), in wire order
    params: tuple[tuple[int, int], ...]    # (param_id, value), in wire order
    verdict: Verdict | None                # None only where no schema was given


class WriteBatch:
    """A decoded WriteRequest: its header and the columns of its updates."""

    __slots__ = ("_data", "columns", "header", "n_slow")

    def __init__(self, data: bytes, header: WriteHeader, columns: Columns,
                 n_slow: int | None = None) -> None:
        self._data = data
        self.header = header
        self.columns = columns
        self.n_slow = len(self.slow_indexes()) if n_slow is None else n_slow

    def __len__(self) -> int:
        return len(self.columns.u_flags)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WriteBatch):
            return NotImplemented
        return (self.header, self.columns) == (other.header, other.columns)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"WriteBatch({len(self)} updates, {self.n_slow} slow, {self.header})"

    def is_fast(self, i: int) -> bool:
        return bool(self.columns.u_flags[i] & FAST)

    def verdict(self, i: int) -> Verdict | None:
        """Update i's verdict; None for a slow update."""
        return _VERDICTS[self.columns.u_verdict[i]]

    def slow_indexes(self) -> list[int]:
        return [i for i, f in enumerate(self.columns.u_flags) if not f & FAST]

    def refused(self) -> list[int]:
        """The fast updates whose verdict is not OK."""
        return [i for i, (f, v) in enumerate(zip(self.columns.u_flags, self.columns.u_verdict,
                                                   strict=True)) if f & FAST and v != 0]

    def update_bytes(self, i: int) -> bytes:
        """Update i's p4.v1.Update message, as it came."""
        start = self.columns.u_offset[i]
        return self._data[start:start + self.columns.u_length[i]]

    def update_message(self, i: int) -> p4r.Update:
        """Update i parsed by protobuf: what a slow update needs, or a refused one's
        message. MalformedWriteError where protobuf refuses its bytes."""
        try:
            return p4r.Update.FromString(self.update_bytes(i))
        except (DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise MalformedWriteError(f"update {i}: {exc}") from None

    def fast_updates(self) -> Iterator[FastUpdate]:
        """Every fast update, in order."""
        c = self.columns
        mf, mv = c.m_field.tolist(), c.m_value.tolist()
        pp, pv = c.p_param.tolist(), c.p_value.tolist()
        rows = zip(c.u_flags.tolist(), c.u_type.tolist(), c.u_table.tolist(),
                   c.u_priority.tolist(), c.u_action.tolist(), c.u_match_first.tolist(),
                   c.u_match_count.tolist(), c.u_param_first.tolist(),
                   c.u_param_count.tolist(), c.u_verdict.tolist(), strict=True)
        verdicts, make = _VERDICTS, tuple.__new__  # not FastUpdate(): a third of the time
        for i, (flags, type_, table, prio, action, m0, mn, p0, pn, v) in enumerate(rows):
            if not flags & FAST:
                continue
            yield make(FastUpdate, (
                i, type_, table, prio, bool(flags & DEFAULT),
                action if flags & ACTION else None,
                tuple(zip(mf[m0:m0 + mn], mv[m0:m0 + mn], strict=True)),
                tuple(zip(pp[p0:p0 + pn], pv[p0:p0 + pn], strict=True)), verdicts[v]))
