"""The election through etcd: campaign under a lease, keep it alive, step down. The I/O
around ctrl.ha.standing (which decides).

Each round (a third of the TTL): a lease granted if none is held, else kept alive; then,
when not leading, one campaign: a txn that puts the leader key under this lease only if
it does not exist (create_revision == 0). The txn's revision is the new leader's term
and so its P4Runtime election id (term, 0): higher than every earlier leader's. A lease
that etcd says expired, an etcd that does not answer past the lease's deadline, or a
switch refusing a write with PERMISSION_DENIED: the controller steps down. `on_change`
hears every change of role or term, and the runner's sessions re-arbitrate. A standby
watches the leader key: when etcd deletes it (the leader's lease expired, or it
resigned) it campaigns at once, not at its next round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from ctrl.ha.etcd import Compare, EtcdClient, EtcdError, Get, Put
from ctrl.ha.standing import ElectionId, Role, Standing

log = logging.getLogger(__name__)

LEADER_KEY = b"/vm-mobility/leader"
ChangeHandler = Callable[[Standing], Awaitable[None]]


class Elector:
    def __init__(self, etcd: EtcdClient, name: str, backup_id: ElectionId, ttl: int = 1,
                 clock: Callable[[], float] = time.monotonic,
                 key: bytes = LEADER_KEY) -> None:
        self.etcd = etcd
        self.name = name
        self.ttl = ttl
        self.clock = clock
        self.key = key
        self.standing = Standing(backup_id)
        self.on_change: ChangeHandler | None = None
        self.etcd_reachable = False
        self.granted_ttl = 0
        self._fenced: asyncio.Event = asyncio.Event()
        self._vacant: asyncio.Event = asyncio.Event()   # etcd deleted the leader key
        self._seen: tuple[Role, int] = (self.standing.role, 0)

    # -- what the sessions ask -------------------------------------------------------

    def may_write(self) -> bool:
        """Only a leader whose lease still holds by its own clock writes."""
        return self.standing.is_leader and self.standing.lease_held(self.clock())

    def fenced(self, switch: str) -> None:
        if self.standing.is_leader:
            log.error("%s: %s refused a write as not primary: a later leader exists; "
                      "stepping down", self.name, switch)
            self.standing.fenced(switch)
            self._fenced.set()

    # -- the loop --------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.ttl / 3
        watcher = asyncio.create_task(self._watch_leader(stop), name=f"{self.name}:leader")
        try:
            while not stop.is_set():
                self._vacant.clear()
                await self.step()
                await self._notify()
                waits = [asyncio.ensure_future(e.wait())
                         for e in (stop, self._fenced, self._vacant)]
                try:
                    await asyncio.wait(waits, timeout=interval,
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waits:
                        w.cancel()
                if self._fenced.is_set():
                    self._fenced.clear()
                    await self._resign()   # the old key goes with the lease
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            with contextlib.suppress(EtcdError, TimeoutError):
                await asyncio.wait_for(self._resign(), 1.0)
            await self._notify()

    async def _watch_leader(self, stop: asyncio.Event) -> None:
        """The leader key's deletions, to campaign at once (not leading); the watch made
        again when it breaks (etcd unreachable: the rounds say so)."""
        while not stop.is_set():
            try:
                async for ev in self.etcd.watch(self.key):
                    if ev.type == "DELETE" and not self.standing.is_leader:
                        log.info("%s: the leader key is gone: campaigning now", self.name)
                        self._vacant.set()
            except EtcdError as exc:
                log.debug("%s: watching the leader key: %s", self.name, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.ttl / 3)

    async def step(self) -> None:
        s = self.standing
        was_leader = s.is_leader
        s.check(self.clock())
        try:
            if not s.lease:
                sent = self.clock()
                lease, self.granted_ttl = await self.etcd.grant(self.ttl)
                s.granted(lease, self.granted_ttl, sent)
            else:
                sent = self.clock()
                left = max(0.05, s.lease_until - sent)
                ttl = await asyncio.wait_for(self.etcd.keepalive(s.lease), left)
                if not s.kept_alive(ttl, sent):
                    self.etcd_reachable = True
                    return
            if not s.is_leader:
                await self._campaign()
            self.etcd_reachable = True
        except (EtcdError, TimeoutError) as exc:
            self.etcd_reachable = False
            s.unreachable(self.clock(), str(exc) or "timed out")
            if not s.lease_held(self.clock()):
                log.warning("%s: %s: no controller can become primary without a lease",
                            self.name, s.note)
        if was_leader and not s.is_leader:
            log.error("%s: stepped down: %s", self.name, s.note)

    async def _campaign(self) -> None:
        s = self.standing
        result = await self.etcd.txn([Compare(self.key, "CREATE", "EQUAL", 0)],
                                     [Put(self.key, self.name.encode(), s.lease)],
                                     [Get(self.key)])
        if result.succeeded:
            s.won(result.revision, self.name)
            log.warning("%s: elected leader, term %d: P4Runtime election id %s", self.name,
                        result.revision, s.election_id)
            return
        kvs = result.ranges[0] if result.ranges else []
        leader = kvs[0].value.decode(errors="replace") if kvs else ""
        if kvs and kvs[0].lease == s.lease:   # our own key (a step-down): give it up
            await self._resign()
            return
        if leader != s.leader:
            log.info("%s: standby; %s leads", self.name, leader)
        s.lost(leader)

    async def _resign(self) -> None:
        lease = self.standing.lease
        if lease:
            self.standing.resigned()
            await self.etcd.revoke(lease)

    async def _notify(self) -> None:
        now = (self.standing.role, self.standing.term)
        if now != self._seen:
            self._seen = now
            if self.on_change is not None:
                await self.on_change(self.standing)
