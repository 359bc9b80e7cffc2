"""Python's cyclic garbage collector made rarer while a controller starts.

A controller started against 320 switches holding 100,000 VMs' entries makes millions of
short-lived objects (rows read back, wanted entries) while it holds 100,000 hosts: at the
default thresholds (700, 10, 10) the collector runs often and walks them, about a third
of the start's CPU (see README "At scale"). Until every switch is in sync, or `limit`
seconds at most, the thresholds are higher; then what they were. Objects are freed by
their reference counts all the same: only cycles wait longer.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc

STARTING = (50_000, 20, 100)

Thresholds = tuple[int, int, int]


def relax() -> Thresholds:
    """The starting thresholds from now on; the ones before."""
    before = gc.get_threshold()
    gc.set_threshold(*STARTING)
    return before


async def restore_when(synced: asyncio.Event, before: Thresholds, limit: float) -> None:
    """`before` again once `synced` is set, `limit` seconds have passed, or this is
    cancelled; then the cycles left from the start collected at once (they would hold
    ~60 MB at 100,000 VMs until the next full collection)."""
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(synced.wait(), limit)
    finally:
        gc.set_threshold(*before)
        gc.collect()
