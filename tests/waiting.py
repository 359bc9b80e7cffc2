"""Waiting in tests for something to become true, never for a fixed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(done: Callable[[], object], timeout: float = 20.0) -> float | None:
    """When `done()` first held (time.monotonic()), or None if not within `timeout` s;
    checked every 10 ms."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(0.01)
    return time.monotonic()
