"""The collector's thresholds while a controller starts (ctrl/control/gcpace.py): raised,
then what they were once every switch is in sync, after the limit, or when cancelled."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from ctrl.control import gcpace


@pytest.fixture(autouse=True)
def kept() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_raised_until_in_sync() -> None:
    gc.set_threshold(700, 10, 10)

    async def body() -> None:
        before = gcpace.relax()
        assert before == (700, 10, 10) and gc.get_threshold() == gcpace.STARTING
        synced = asyncio.Event()
        task = asyncio.create_task(gcpace.restore_when(synced, before, 60))
        await asyncio.sleep(0.01)
        assert gc.get_threshold() == gcpace.STARTING
        synced.set()
        await task
        assert gc.get_threshold() == (700, 10, 10)

    asyncio.run(body())


def test_what_they_were_after_the_limit_or_when_cancelled() -> None:
    gc.set_threshold(900, 5, 5)

    async def body() -> None:
        await gcpace.restore_when(asyncio.Event(), gcpace.relax(), 0.01)
        assert gc.get_threshold() == (900, 5, 5)
        task = asyncio.create_task(gcpace.restore_when(asyncio.Event(), gcpace.relax(), 60))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert gc.get_threshold() == (900, 5, 5)

    asyncio.run(body())
