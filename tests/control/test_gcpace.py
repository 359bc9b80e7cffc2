"""The collector's thresholds while a controller starts (ctrl/control/gcpace.py): raised,
then, once every switch is in sync, after the limit, or when cancelled, what they were but
for the youngest generation's (SETTLED_YOUNG at least), the objects left frozen."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from ctrl.control import gcpace


@pytest.fixture(autouse=True)
def kept() -> Iterator[None]:
    before = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_raised_until_in_sync() -> None:
    gc.set_threshold(700, 10, 10)

    async def body() -> None:
        before = gcpace.relax()
        assert before == (700, 10, 10) and gc.get_threshold() == gcpace.STARTING
        synced = asyncio.Event()
        task = asyncio.create_task(gcpace.restore_when(synced, before, 60))
        await asyncio.sleep(0.01)
        assert gc.get_threshold() == gcpace.STARTING and gc.get_freeze_count() == 0
        synced.set()
        await task
        assert gc.get_threshold() == (gcpace.SETTLED_YOUNG, 10, 10)

    asyncio.run(body())


def test_what_survived_the_start_is_frozen_after_a_collection() -> None:
    """The long-lived objects (a controller's hosts) are walked by no later collection;
    a cycle made before is collected first, not frozen."""

    class Node:
        other: object = None

    async def body() -> None:
        kept_alive = [object() for _ in range(1000)]
        cycle = Node()
        cycle.other = cycle
        gone = weakref.ref(cycle)
        del cycle
        await gcpace.restore_when(asyncio.Event(), gcpace.relax(), 0.01)
        assert gone() is None   # collected, not frozen
        assert gc.get_freeze_count() >= len(kept_alive)
        assert not any(o is kept_alive for o in gc.get_objects())   # frozen: not walked

    asyncio.run(body())


def test_what_they_were_after_the_limit_or_when_cancelled() -> None:
    gc.set_threshold(900, 5, 5)

    async def body() -> None:
        await gcpace.restore_when(asyncio.Event(), gcpace.relax(), 0.01)
        assert gc.get_threshold() == (gcpace.SETTLED_YOUNG, 5, 5)
        assert gc.get_freeze_count() > 0
        gc.unfreeze()
        gc.set_threshold(50_000, 5, 5)   # higher than SETTLED_YOUNG: kept
        task = asyncio.create_task(gcpace.restore_when(asyncio.Event(), gcpace.relax(), 60))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert gc.get_threshold() == (50_000, 5, 5) and gc.get_freeze_count() > 0

    asyncio.run(body())
