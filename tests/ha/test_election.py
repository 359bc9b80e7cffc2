"""Two electors against a real etcd: one leads; the other takes over, with a higher term,
when the leader's lease goes; without etcd nobody leads."""

from __future__ import annotations

import asyncio
import logging
import signal

import pytest

from ctrl.ha.election import Elector
from ctrl.ha.etcd import EtcdClient
from ctrl.ha.etcdproc import EtcdProcess, free_port
from ctrl.ha.standing import Role, Standing


async def _until(cond: object, timeout: float = 8.0) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not cond():   # type: ignore[operator]
        if loop.time() - start > timeout:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
    return loop.time() - start


def test_one_leads_and_the_other_takes_over_with_a_higher_term(etcd: EtcdProcess) -> None:
    async def go() -> None:
        changes: list[tuple[str, Role, tuple[int, int]]] = []
        a = Elector(EtcdClient([etcd.url]), "a", (0, 1))
        b = Elector(EtcdClient([etcd.url]), "b", (0, 2))
        for e in (a, b):
            async def told(s: Standing, e: Elector = e) -> None:
                changes.append((e.name, s.role, s.election_id))
            e.on_change = told
        stop_a, stop_b = asyncio.Event(), asyncio.Event()
        ta = asyncio.create_task(a.run(stop_a))
        await _until(a.may_write)
        tb = asyncio.create_task(b.run(stop_b))
        await _until(lambda: b.standing.leader == "a")
        assert b.standing.role is Role.STANDBY and not b.may_write()
        first = a.standing.term
        assert a.standing.election_id == (first, 0) > b.standing.election_id
        # a stops without resigning (a crash): its lease must run out first
        live, a.etcd = a.etcd, EtcdClient([f"http://127.0.0.1:{free_port()}"], timeout=0.1)
        await live.close()
        ta.cancel()
        await a.etcd.close()
        took = await _until(b.may_write)
        print(f"\nb leads {took:.2f} s after a stopped keeping its lease alive")
        assert b.standing.term > first and not a.may_write()
        stop_b.set()
        await tb
        assert not b.may_write() and b.standing.role.value == "no-lease"
        assert any(n == "b" and r is Role.LEADER for n, r, _ in changes)
        for e in (a, b):
            await e.etcd.close()
    asyncio.run(go())


def test_a_frozen_leader_steps_down_by_its_own_clock(etcd: EtcdProcess) -> None:
    async def go() -> None:
        a = Elector(EtcdClient([etcd.url]), "a", (0, 1))
        stop = asyncio.Event()
        task = asyncio.create_task(a.run(stop))
        await _until(a.may_write)
        etcd.signal(signal.SIGSTOP)   # etcd answers nothing: keep-alives time out
        try:
            took = await _until(lambda: not a.may_write(), timeout=5)
            # its round, whose etcd call times out at the lease's deadline, then says why
            # (under load it may come a moment after the deadline by its clock)
            await _until(lambda: not a.etcd_reachable, timeout=5)
            assert a.standing.role is Role.NO_LEASE
            assert "etcd unreachable" in a.standing.note
            print(f"\nstepped down {took:.2f} s after etcd froze")
        finally:
            etcd.signal(signal.SIGCONT)
        await _until(a.may_write)   # etcd back: a new lease, a new term
        stop.set()
        await task
        await a.etcd.close()
    asyncio.run(go())


def test_without_etcd_nobody_leads(etcd: EtcdProcess) -> None:
    url = etcd.url
    etcd.stop()

    async def go() -> None:
        a = Elector(EtcdClient([url], timeout=0.2), "a", (0, 1))
        stop = asyncio.Event()
        task = asyncio.create_task(a.run(stop))
        await asyncio.sleep(1.5)
        assert a.standing.role is Role.NO_LEASE and not a.may_write()
        assert not a.etcd_reachable and "unreachable" in a.standing.note
        stop.set()
        await task
        await a.etcd.close()
    asyncio.run(go())


def test_a_fenced_leader_steps_down_and_gives_up_its_key(etcd: EtcdProcess) -> None:
    async def go() -> None:
        a = Elector(EtcdClient([etcd.url]), "a", (0, 1))
        stop = asyncio.Event()
        task = asyncio.create_task(a.run(stop))
        await _until(a.may_write)
        term = a.standing.term
        a.fenced("s1")
        assert not a.may_write() and a.standing.stepped_down == 1
        await _until(a.may_write)   # nobody else campaigns: it is elected again, higher
        assert a.standing.term > term
        stop.set()
        await task
        assert await a.etcd.get(a.key) is None   # resigned on the way out
        await a.etcd.close()
    asyncio.run(go())


def test_a_standby_campaigns_as_soon_as_the_leader_key_goes(
        etcd: EtcdProcess, caplog: pytest.LogCaptureFixture) -> None:
    """Its rounds far apart (a 9 s lease: every 3 s), the standby still takes over when the
    leader resigns: etcd's watch says the key is gone, and it campaigns at once."""
    async def go() -> None:
        a = Elector(EtcdClient([etcd.url]), "a", (0, 1))
        b = Elector(EtcdClient([etcd.url]), "b", (0, 2), ttl=9)
        stop_a, stop_b = asyncio.Event(), asyncio.Event()
        ta = asyncio.create_task(a.run(stop_a))
        await _until(a.may_write)
        tb = asyncio.create_task(b.run(stop_b))
        await _until(lambda: b.standing.leader == "a")
        await asyncio.sleep(0.3)   # b's watch is up; its next round is seconds away
        with caplog.at_level(logging.INFO, logger="ctrl.ha.election"):
            stop_a.set()           # a resigns: its lease revoked, the key deleted
            await ta
            await _until(b.may_write)
        assert any("the leader key is gone: campaigning now" in r.getMessage()
                   for r in caplog.records)
        stop_b.set()
        await tb
        for e in (a, b):
            await e.etcd.close()
    asyncio.run(go())
