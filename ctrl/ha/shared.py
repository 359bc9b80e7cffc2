"""Host locations and the migration journal in etcd: written by the primary, followed by
the standby (ctrl/ha/records.py says the records).

The primary turns its core's notices into one txn per batch, guarded by the leader key's
create_revision == its term: a controller that no longer leads writes nothing that lands
(and steps down). The standby reads the prefix, then watches it from the next revision,
and keeps a HotCopy; made primary, it hands the copy to its core before its switches sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from ctrl.control.notices import (
    HostLearned,
    HostMoved,
    MigrationChanged,
    Notice,
    Subscription,
)
from ctrl.control.runner import Controller
from ctrl.ha.election import Elector
from ctrl.ha.etcd import Compare, Delete, EtcdError, Op, Put, prefix_end
from ctrl.ha.records import (
    HOSTS,
    MIGRATIONS,
    PREFIX,
    HostRecord,
    HotCopy,
    encode_migration,
    key_of,
)

log = logging.getLogger(__name__)

WRITES_FIRST_S = 0.25   # at most this long a notice waits for the switches' writes
JOURNAL_WAIT_S = 2.0    # at most this long an API step waits for its record in etcd


def ops_for(notices: list[Notice],
            ip_of: Callable[[tuple[int, int]], int | None] = lambda key: None) -> list[Op]:
    """The puts and deletes that a batch of notices makes of the shared state: the last
    one of each key (etcd refuses a txn that names a key twice)."""
    out: list[Put | Delete] = []
    for n in notices:
        if isinstance(n, HostLearned):
            out.append(Put(key_of(HOSTS, (n.vnet, n.mac)), HostRecord(n.at, n.ip).encode()))
        elif isinstance(n, HostMoved):
            key = (n.vnet, n.mac)
            out.append(Put(key_of(HOSTS, key), HostRecord(n.new, ip_of(key)).encode()))
        elif isinstance(n, MigrationChanged):
            m = n.migration
            raw = key_of(MIGRATIONS, m.key)
            out.append(Put(raw, encode_migration(m)) if m.phase.active else Delete(raw))
    last = {op.key: op for op in out}
    return list(last.values())


class SharedState:
    def __init__(self, controller: Controller, elector: Elector) -> None:
        self.c = controller
        self.elector = elector
        self.etcd = elector.etcd
        self.copy = HotCopy()
        self.written = 0
        self.refused = 0
        self._upto = 0   # the feed's notices up to this count are written (or gave up)
        self._progress = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        sub = self.c.feed.subscribe()
        tasks = [asyncio.create_task(self._follow(stop), name="ha-follow"),
                 asyncio.create_task(self._publish(sub, stop), name="ha-publish")]
        try:
            await stop.wait()
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            self.c.feed.unsubscribe(sub)

    def take_over(self) -> None:
        """Made primary: the core takes the hot copy (before the switches sync)."""
        hosts = {k: (r.at, r.ip) for k, r in self.copy.hosts.items()}
        self.c.core.take_over(hosts, list(self.copy.flights.values()), self.c.clock())
        log.warning("%s: taking over with %d hosts and %d migrations in flight from etcd "
                    "(revision %d)", self.elector.name, len(hosts), len(self.copy.flights),
                    self.copy.revision)

    async def snapshot(self) -> None:
        """The whole state as this primary has it, written once it leads."""
        ops: list[Op] = [Put(key_of(HOSTS, h.key), HostRecord(h.location, h.ip).encode())
                         for h in self.c.hosts()]
        ops += [Put(key_of(MIGRATIONS, m.key), encode_migration(m))
                for m in self.c.core.migrations]
        await self._write(ops)

    async def _write(self, ops: list[Op]) -> None:
        s = self.elector.standing
        if not ops or not self.elector.may_write():
            return
        result = await self.etcd.txn([Compare(self.elector.key, "CREATE", "EQUAL", s.term)],
                                     ops)
        if result.succeeded:
            self.written += len(ops)
        else:
            self.refused += 1
            self.elector.fenced("etcd (the leader key is not this term's)")

    async def _publish(self, sub: Subscription, stop: asyncio.Event) -> None:
        while not stop.is_set():
            notices, lost = await sub.next()
            # The switches' writes first: a txn built and sent in front of them (the notices
            # of a move come as its plan is queued) made every move of a pair slower.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.c.quiet(), WRITES_FIRST_S)
            if sub.queue:   # and what came meanwhile, in the same txn
                more, more_lost = await sub.next()
                notices, lost = notices + more, lost + more_lost
            upto = self.c.feed.published
            try:
                if lost:
                    await self.snapshot()
                else:
                    await self._write(ops_for(notices, self._ip_of))
            except EtcdError as exc:
                log.warning("%s: shared state not written: %s", self.elector.name, exc)
            self._upto = upto
            self._progress.set()

    async def journaled(self, timeout: float = JOURNAL_WAIT_S) -> None:
        """Until every notice published so far is written to etcd (or its write failed,
        or `timeout` passed: said in the log)."""
        target = self.c.feed.published
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._upto < target:
            self._progress.clear()
            left = deadline - loop.time()
            if left <= 0:
                log.warning("%s: the shared state is behind (not written in %.1f s)",
                            self.elector.name, timeout)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), left)

    def _ip_of(self, key: tuple[int, int]) -> int | None:
        host = self.c.core.tracker.lookup(key)
        return None if host is None else host.ip

    async def _follow(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                kvs, rev = await self.etcd.prefix(PREFIX)
                fresh = HotCopy(revision=rev)
                for kv in kvs:
                    fresh.apply("PUT", kv.key, kv.value, rev)
                self.copy = fresh
                async for ev in self.etcd.watch(PREFIX, prefix_end(PREFIX), rev + 1):
                    self.copy.apply(ev.type, ev.kv.key, ev.kv.value, ev.revision)
            except EtcdError as exc:
                log.debug("%s: following the shared state: %s", self.elector.name, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.3)
