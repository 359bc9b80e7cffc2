"""Python's cyclic garbage collector made rarer while a controller starts.

A controller started against 320 switches holding 100,000 VMs' entries makes millions of
short-lived objects (rows read back, wanted entries) while it holds 100,000 hosts: at the
default thresholds (700, 10, 10) the collector runs often and walks them, about a third
of the start's CPU (see README "At scale"). Until every switch is in sync, or `limit`
seconds at most, the thresholds are higher; then what they were, but for the youngest
generation's: SETTLED_YOUNG at least. Objects are freed by their reference counts all the
same: only cycles wait longer. Once started, the cycles left are collected and what
survived (the hosts, the wanted state: long-lived) is frozen (`gc.freeze`): no full
collection walks it again. A 1,000-move storm's controller CPU with both, against the
thresholds put back as they were: 1.50-2.22 s (median 2.21) against 2.03-2.64 s (median
2.46), three storms each, alternating (k=16, 10,000 VMs, load average 2-6).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc

STARTING = (50_000, 20, 100)
SETTLED_YOUNG = 20_000   # the youngest generation's threshold once started, at least

Thresholds = tuple[int, int, int]


def relax() -> Thresholds:
    """The starting thresholds from now on; the ones before."""
    before = gc.get_threshold()
    gc.set_threshold(*STARTING)
    return before


async def restore_when(synced: asyncio.Event, before: Thresholds, limit: float) -> None:
    """`before` again (its youngest generation's threshold SETTLED_YOUNG at least) once
    `synced` is set, `limit` seconds have passed, or this is cancelled; then the cycles
    left from the start collected at once (they would hold ~60 MB at 100,000 VMs until the
    next full collection) and every object left frozen."""
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(synced.wait(), limit)
    finally:
        gc.set_threshold(max(before[0], SETTLED_YOUNG), *before[1:])
        gc.collect()
        gc.freeze()
