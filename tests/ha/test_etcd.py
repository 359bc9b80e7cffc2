"""The etcd client against a real etcd of the test's own."""

from __future__ import annotations

import asyncio

import pytest

from ctrl.errors import MobilityError
from ctrl.ha.etcd import (
    Compare,
    EtcdClient,
    EtcdError,
    EtcdUnavailable,
    Get,
    Put,
    WatchEvent,
    prefix_end,
)
from ctrl.ha.etcdproc import EtcdProcess, free_port


def test_prefix_end() -> None:
    assert prefix_end(b"/a/") == b"/a0"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"\xff") == b"\x00"


def test_put_get_range_delete(etcd: EtcdProcess) -> None:
    async def go() -> None:
        async with EtcdClient([etcd.url]) as c:
            rev = await c.put(b"/t/a", b"\x00one")
            await c.put(b"/t/b", b"two")
            await c.put(b"/u", b"other")
            kv = await c.get(b"/t/a")
            assert kv is not None and kv.value == b"\x00one" and kv.create_revision == rev
            assert await c.get(b"/t/none") is None
            kvs, at = await c.prefix(b"/t/")
            assert [k.key for k in kvs] == [b"/t/a", b"/t/b"] and at >= rev + 1
            assert await c.delete(b"/t/", prefix_end(b"/t/")) == 2
            assert (await c.prefix(b"/t/"))[0] == []
            assert await c.get(b"/u") is not None
    asyncio.run(go())


def test_campaign_txn_wins_once(etcd: EtcdProcess) -> None:
    async def go() -> None:
        async with EtcdClient([etcd.url]) as c:
            def campaign(who: bytes) -> tuple[list[Compare], list[Put], list[Get]]:
                return ([Compare(b"/leader", "CREATE", "EQUAL", 0)], [Put(b"/leader", who)],
                        [Get(b"/leader")])
            won = await c.txn(*campaign(b"x"))
            lost = await c.txn(*campaign(b"y"))
            assert won.succeeded and not lost.succeeded
            assert lost.ranges[0][0].value == b"x"
            assert lost.ranges[0][0].create_revision == won.revision
    asyncio.run(go())


def test_lease_keepalive_expiry_and_revoke(etcd: EtcdProcess) -> None:
    async def go() -> None:
        async with EtcdClient([etcd.url]) as c:
            lease, ttl = await c.grant(1)
            assert ttl == 1   # etcdproc's short election timeout allows one second
            await c.put(b"/l", b"v", lease)
            for _ in range(4):   # kept alive past its TTL
                await asyncio.sleep(0.4)
                assert await c.keepalive(lease) == 1
            assert await c.get(b"/l") is not None
            await asyncio.sleep(2.5)   # left alone: it expires, its key with it
            assert await c.keepalive(lease) == 0
            assert await c.get(b"/l") is None
            other, _ = await c.grant(5)
            await c.put(b"/m", b"v", other)
            await c.revoke(other)
            assert await c.get(b"/m") is None
            await c.revoke(other)   # gone already: no error
    asyncio.run(go())


def test_watch_streams_puts_and_deletes(etcd: EtcdProcess) -> None:
    async def go() -> None:
        async with EtcdClient([etcd.url]) as c:
            first = await c.put(b"/w/old", b"0")
            seen: list[WatchEvent] = []

            async def watch() -> None:
                async for ev in c.watch(b"/w/", prefix_end(b"/w/"), start_revision=first):
                    seen.append(ev)
                    if len(seen) == 3:
                        return
            task = asyncio.create_task(watch())
            await asyncio.sleep(0.2)
            await c.put(b"/w/a", b"1")
            await c.delete(b"/w/old")
            await asyncio.wait_for(task, 5)
            assert [(e.type, e.kv.key) for e in seen] == [
                ("PUT", b"/w/old"), ("PUT", b"/w/a"), ("DELETE", b"/w/old")]
    asyncio.run(go())


def test_down_is_a_clear_error_naming_every_endpoint(etcd: EtcdProcess) -> None:
    dead = f"http://127.0.0.1:{free_port()}"

    async def go() -> None:
        async with EtcdClient([dead, etcd.url]) as c:   # the live one is found
            await c.put(b"/k", b"v")
            etcd.stop()
            with pytest.raises(EtcdUnavailable, match="unreachable") as err:
                await c.get(b"/k")
            assert dead in str(err.value) and etcd.url in str(err.value)
            assert isinstance(err.value, MobilityError)
            with pytest.raises(EtcdUnavailable):
                async for _ in c.watch(b"/k"):
                    pass
    asyncio.run(go())


def test_refusal_is_an_etcd_error(etcd: EtcdProcess) -> None:
    async def go() -> None:
        async with EtcdClient([etcd.url]) as c:
            with pytest.raises(EtcdError, match="lease not found"):
                await c.put(b"/k", b"v", lease=12345)
    asyncio.run(go())
