"""A switch's read-back by compact key, from the C decoder's columns: what a sync's diff
compares the wanted entries with (ctrl/control/held.py's HeldReader.index).

`index_ref` goes row by row. `index` gives the same, taking runs of rows alike (one
table and action, each decoded whole, fields and parameters in id order: nearly every
row of a read-back, as a switch answers table by table) as slices of the columns, whose
tuples zip makes without a Python step per row (~0.3 us a row against ~2). Rows of any
other kind, and runs too short to gain, go row by row as in `index_ref`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from itertools import groupby, repeat
from typing import NamedTuple, Protocol

from ctrl.fastpath.p4rt_batch import ACTION, DEFAULT, FAST
from ctrl.p4rt.entity import Entity

Values = dict[Hashable, Hashable | None]   # compact key -> compact value (None: compare)
Where = dict[Hashable, "int | Entity"]     # compact key -> its row, or its entity
Compact = Callable[[Entity], tuple[Hashable, Hashable | None]]
SHORT = 8   # a run shorter than this goes row by row


class Columns(Protocol):
    """A decoded read-back's columns, as lists (ctrl/control/held.py's _Rows)."""

    flags: list[int]
    table: list[int]
    prio: list[int]
    action: list[int]
    m0: list[int]
    mn: list[int]
    p0: list[int]
    pn: list[int]
    mf: list[int]
    mv: list[int]
    pf: list[int]
    pv: list[int]

    def entity(self, i: int) -> Entity: ...


def index_ref(rows: Columns, fields: Mapping[int, list[int]], params: Mapping[int, list[int]],
              compact: Compact) -> tuple[Values, Where]:
    """Every row's compact key and value (default entries left out); rows not decoded
    whole, or with fields or parameters not all there in id order, made entities."""
    values: Values = {}
    where: Where = {}
    _rows(rows, range(len(rows.flags)), fields, params, compact, values, where)
    return values, where


def index(rows: Columns, fields: Mapping[int, list[int]], params: Mapping[int, list[int]],
          compact: Compact) -> tuple[Values, Where]:
    """`index_ref`, by runs of rows alike (see the module's docstring)."""
    values: Values = {}
    where: Where = {}
    for a, b, table_id, action_id in runs(rows):
        shape = alike(rows, a, b, table_id, action_id, fields, params)
        if shape is None:
            _rows(rows, range(a, b), fields, params, compact, values, where)
            continue
        n = b - a
        keys = list(zip(repeat(table_id, n), rows.prio[a:b], *shape.matches(rows),
                        strict=True))
        if not shape.action:
            values.update(zip(keys, repeat((0,), n), strict=True))
        else:
            got = zip(repeat(action_id, n), *shape.params(rows), strict=True)
            values.update(zip(keys, got, strict=True))
        where.update(zip(keys, range(a, b), strict=True))
    return values, where


def runs(rows: Columns) -> Iterator[tuple[int, int, int, int]]:
    """Rows a..b of one table and action, in order: (a, b, table id, action id)."""
    a = 0
    for (table_id, action_id), run in groupby(zip(rows.table, rows.action, strict=True)):
        b = a + len(list(run))
        yield a, b, table_id, action_id
        a = b


class Shape(NamedTuple):
    """Rows a..b alike: their fields' values from mv[m], k a row, their parameters'
    from pv[p], q a row (with `action`)."""

    a: int
    b: int
    m: int
    k: int
    p: int
    q: int
    action: bool

    def matches(self, rows: Columns) -> list[list[int]]:
        """Each match field's values (in field id order), a column each."""
        n, m, k = self.b - self.a, self.m, self.k
        return [rows.mv[m + j:m + k * n:k] for j in range(k)]

    def params(self, rows: Columns) -> list[list[int]]:
        n, p, q = self.b - self.a, self.p, self.q
        return [rows.pv[p + j:p + q * n:q] for j in range(q)]


def alike(rows: Columns, a: int, b: int, table_id: int, action_id: int,
          fields: Mapping[int, list[int]], params: Mapping[int, list[int]]) -> Shape | None:
    """Rows a..b of one table and action as slices of the columns, if they are all alike
    (at least SHORT, decoded whole, no default, fields and parameters complete in id
    order, laid end to end); else None."""
    n = b - a
    order = fields.get(table_id)
    if n < SHORT or order is None or not order:
        return None
    flags = rows.flags[a:b]
    porder: list[int] = []
    if flags.count(FAST | ACTION) == n:
        got = params.get(action_id)
        if got is None:
            return None
        porder = got
    elif flags.count(FAST) != n:
        return None    # (a default entry, or a row not decoded whole)
    k, q = len(order), len(porder)
    m, p = rows.m0[a], rows.p0[a]
    if rows.mn[a:b].count(k) != n or rows.m0[a:b] != list(range(m, m + k * n, k)) \
            or rows.mf[m:m + k * n] != order * n or rows.pn[a:b].count(q) != n:
        return None
    if q and (rows.p0[a:b] != list(range(p, p + q * n, q))
              or rows.pf[p:p + q * n] != porder * n):
        return None
    return Shape(a, b, m, k, p, q, bool(flags[0] & ACTION))


def _rows(rows: Columns, which: Sequence[int], fields: Mapping[int, list[int]],
          params: Mapping[int, list[int]], compact: Compact, values: Values,
          where: Where) -> None:
    flags_, table_, prio_, action_ = rows.flags, rows.table, rows.prio, rows.action
    m0_, mn_, p0_, pn_ = rows.m0, rows.mn, rows.p0, rows.pn
    mf, mv, pf, pv = rows.mf, rows.mv, rows.pf, rows.pv
    for i in which:
        flags, table_id = flags_[i], table_[i]
        order = fields.get(table_id)
        if flags & FAST and order is not None:
            if flags & DEFAULT:
                continue
            m0, mn = m0_[i], mn_[i]
            if mf[m0:m0 + mn] == order:
                key = (table_id, prio_[i], *mv[m0:m0 + mn])
                action_id, p0, pn = action_[i], p0_[i], pn_[i]
                if not flags & ACTION:
                    values[key] = (0,)
                elif pf[p0:p0 + pn] == params.get(action_id):
                    values[key] = (action_id, *pv[p0:p0 + pn])
                else:
                    values[key] = None
                where[key] = i
                continue
        e = rows.entity(i)   # made now: the decoder's memory is another's later
        if not getattr(e, "is_default", False):
            k, v = compact(e)
            values[k] = v
            where[k] = e
