"""One managed switch: connect, become primary, push the pipeline, sync state, keep it so.

`SwitchManager.run()` is the switch's one long-lived task: it connects with
back-off, pushes mobility.p4 when the switch runs another program (or none),
reads back what the switch holds, and hands packet-ins to the controller. A
write that the switch refuses is logged with its per-update errors and the
switch is re-read and repaired. One switch failing never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from ctrl.control.diff import Diff, diff
from ctrl.control.topology import Switch
from ctrl.errors import MobilityError
from ctrl.p4rt.client import P4Client
from ctrl.p4rt.entity import Entity, PacketIn, Update, UpdateType
from ctrl.p4rt.errors import P4RuntimeError
from ctrl.p4rt.schema import P4Schema

log = logging.getLogger(__name__)

# Every packet-in waiting when the handler runs comes in one list: the controller
# parses them with one call of the C fast path.
PacketHandler = Callable[[str, list[PacketIn]], Awaitable[None]]
ConnectHandler = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Backoff:
    first: float = 0.2
    factor: float = 2.0
    limit: float = 10.0

    def delays(self) -> list[float]:
        out, d = [], self.first
        while d < self.limit:
            out.append(d)
            d *= self.factor
        return out


class SwitchManager:
    def __init__(self, switch: Switch, schema: P4Schema, device_config: bytes,
                 on_packet: PacketHandler, election_id: tuple[int, int] = (0, 1),
                 backoff: Backoff | None = None) -> None:
        self.switch = switch
        self.schema = schema
        self.device_config = device_config
        self.on_packet = on_packet
        self.election_id = election_id
        self.backoff = backoff or Backoff()
        self.client: P4Client | None = None
        self.installed: dict[object, Entity] = {}
        self.ready = asyncio.Event()
        self.repairs = 0  # writes refused, then repaired from a re-read
        self._lock = asyncio.Lock()
        self._log = logging.LoggerAdapter(log, {"switch": switch.name})

    @property
    def name(self) -> str:
        return self.switch.name

    async def connect(self) -> P4Client:
        """Connect once: arbitration, pipeline if needed, read back the installed state."""
        client = P4Client(self.switch.grpc_addr, self.switch.device_id, self.election_id,
                          name=self.name)
        await client.open()
        try:
            if not client.is_primary:
                raise MobilityError(f"{self.name}: another controller is primary")
            current = await client.get_pipeline()
            if current is None or current.p4info != self.schema.p4info:
                self._log.info("%s: pushing the mobility.p4 pipeline", self.name)
                await client.set_pipeline(self.schema, self.device_config)
            else:
                client.schema = self.schema
            self.installed = _keyed(await self.read_state(client))
        except BaseException:
            await client.close()
            raise
        return client

    async def read_state(self, client: P4Client) -> list[Entity]:
        out: list[Entity] = []
        for table in self.schema.tables:
            out += [e for e in await client.read_table(table.name)
                    if not getattr(e, "is_default", False)]
        out += await client.read_multicast_groups()
        return out

    async def run(self, stop: asyncio.Event, on_connect: ConnectHandler | None = None) -> None:
        """Stay connected until `stop` is set; reconnect with back-off. `on_connect` runs
        after each (re)connection, e.g. to bring the switch to the wanted state."""
        delays = self.backoff.delays()
        attempt = 0
        while not stop.is_set():
            try:
                self.client = await self.connect()
            except (MobilityError, OSError) as exc:
                delay = delays[min(attempt, len(delays) - 1)] if delays else self.backoff.limit
                attempt += 1
                self._log.warning("%s: cannot connect (%s); retrying in %.1f s",
                                  self.name, exc, delay)
                await _wait(stop, delay)
                continue
            attempt = 0
            self._log.info("%s: connected to %s, %d entries installed", self.name,
                           self.switch.grpc_addr, len(self.installed))
            self.ready.set()
            try:
                if on_connect is not None:
                    try:
                        await on_connect(self.name)
                    except MobilityError as exc:
                        self._log.error("%s: sync after connecting failed: %s", self.name, exc)
                await self._pump(stop)
            finally:
                self.ready.clear()
                client, self.client = self.client, None
                await client.close()

    async def _pump(self, stop: asyncio.Event) -> None:
        assert self.client is not None
        client = self.client
        while not stop.is_set():
            get = asyncio.ensure_future(client.packet_in())
            stopping = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({get, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if get in done:
                try:
                    await self.on_packet(self.name, [get.result(), *client.drain_packet_ins()])
                except MobilityError as exc:  # one bad frame or write stops nothing
                    self._log.error("%s: handling a packet-in failed: %s", self.name, exc)
            else:
                get.cancel()
            stopping.cancel()

    async def apply(self, wanted: Sequence[Entity]) -> int:
        """Write what differs from the installed state; on refusal, re-read and repair once."""
        return await self.apply_diff(None, lambda: wanted)

    async def apply_diff(self, change: Diff | None, wanted: Callable[[], Sequence[Entity]]
                         ) -> int:
        """Write `change` (what differs from the installed state when None). A switch that
        refuses it is re-read and repaired toward `wanted()`, once."""
        async with self._lock:
            if self.client is None:
                raise MobilityError(f"{self.name}: not connected")
            if change is None:
                change = diff(wanted(), self.installed.values())
            updates = change.updates()
            try:
                await self.client.write(updates)
            except P4RuntimeError as exc:
                self._log.error("%s: write refused: %s", self.name, exc)
                self.repairs += 1
                self.installed = _keyed(await self.read_state(self.client))
                want = wanted()
                updates = diff(want, self.installed.values()).updates()
                await self.client.write(updates)
                self.installed = _keyed(want)
                return len(updates)
            for u in updates:
                if u.type is UpdateType.DELETE:
                    self.installed.pop(u.entity.key(), None)
                else:
                    self.installed[u.entity.key()] = u.entity
            return len(updates)

    async def write(self, updates: Sequence[Update]) -> None:
        async with self._lock:
            if self.client is None:
                raise MobilityError(f"{self.name}: not connected")
            await self.client.write(updates)


def _keyed(entities: Sequence[Entity]) -> dict[object, Entity]:
    return {e.key(): e for e in entities}


async def _wait(stop: asyncio.Event, delay: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), delay)
