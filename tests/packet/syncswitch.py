"""A blocking face on the asyncio P4Client, for tests written in the ptf manner."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from ctrl.p4rt.client import P4Client
from ctrl.p4rt.entity import (
    Entity,
    MulticastGroupEntry,
    PacketIn,
    PacketOut,
    TableEntry,
    Update,
    delete,
)
from ctrl.p4rt.schema import P4Schema

T = TypeVar("T")


class SyncSwitch:
    """Runs one P4Client on an event loop in its own thread."""

    def __init__(self, address: str, device_id: int = 1,
                 election_id: tuple[int, int] = (0, 1)) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"p4client-{address}")
        self._thread.start()
        self.client = self.call(self._make(address, device_id, election_id))

    @staticmethod
    async def _make(address: str, device_id: int, election_id: tuple[int, int]) -> P4Client:
        return P4Client(address, device_id, election_id)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout)

    def open(self) -> None:
        self.call(self.client.open())

    def close(self) -> None:
        try:
            self.call(self.client.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()

    @property
    def schema(self) -> P4Schema:
        assert self.client.schema is not None
        return self.client.schema

    def set_pipeline(self, schema: P4Schema, config: bytes) -> None:
        self.call(self.client.set_pipeline(schema, config))

    def write(self, updates: Sequence[Update]) -> None:
        self.call(self.client.write(updates))

    def read_table(self, table: str, counters: bool = False) -> list[Entity]:
        return self.call(self.client.read_table(table, counters))

    def read_multicast_groups(self) -> list[Entity]:
        return self.call(self.client.read_multicast_groups())

    def packet_out(self, packet: PacketOut) -> None:
        self.call(self.client.packet_out(packet))

    def packet_in(self, timeout: float = 2.0) -> PacketIn:
        return self.call(self.client.packet_in(timeout), timeout + 5)

    def drain_packet_ins(self) -> list[PacketIn]:
        return self.call(self._drain())

    async def _drain(self) -> list[PacketIn]:
        return self.client.drain_packet_ins()

    def clear(self) -> None:
        """Delete every table entry and multicast group the switch holds."""
        updates: list[Update] = []
        for table in self.schema.tables:
            updates += [delete(e) for e in self.read_table(table.name)
                        if isinstance(e, TableEntry) and not e.is_default]
        updates += [delete(g) for g in self.read_multicast_groups()
                    if isinstance(g, MulticastGroupEntry)]
        self.write(updates)
