"""What a move across sites costs when sites are shards sharing the host table in etcd:
the site the VM arrives at writes its host record (the HA records, ctrl/ha/records.py),
and the site it left learns it from its watch, then rewrites its own switches. Measured
against a real etcd (Debian's etcd-server, a process of the test's own, loopback): from
the put to the watch's event, for one move at a time; and a storm's records written one
transaction a move against transactions of 128 (etcd's default limit of operations in
one), in the same run. Over a WAN the etcd cluster's commit adds a round trip between
sites; that is not measured here (one machine)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bench.conftest import RATIOS
from ctrl.control.topology import PortRef
from ctrl.ha.etcd import EtcdClient, Put, prefix_end
from ctrl.ha.etcdproc import EtcdProcess, find_etcd
from ctrl.ha.records import HOSTS, HostRecord, key_of

pytestmark = pytest.mark.skipif(find_etcd() is None, reason="etcd is not installed "
                                "(Debian: apt-get install etcd-server)")
MOVES = 1000
TXN_OPS = 128
TITLE = f"a cross-site move's host record through etcd (loopback), and {MOVES:,} of them"
FIGURES: dict[str, float] = {}


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with EtcdProcess(tmp_path_factory.mktemp("shard") / "etcd") as proc:
        yield proc.url


def _record(i: int) -> tuple[bytes, bytes]:
    return (key_of(HOSTS, (1 + i % 256, 0x020000000000 + i)),
            HostRecord(PortRef(f"p{i % 16}e{i % 8}", 9 + i % 8), (10 << 24) + i).encode())


def _report() -> None:
    lines = [f"  {k:<52} {v:>10,.2f}" for k, v in FIGURES.items()]
    RATIOS[TITLE] = lines


def test_put_to_the_other_sites_watch(etcd: str, benchmark: Any) -> None:
    async def once(client: EtcdClient, watcher: EtcdClient, i: int) -> float:
        key, value = _record(i)
        events = watcher.watch(HOSTS, prefix_end(HOSTS))
        waiting = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0.02)   # the watch is set up
        start = time.perf_counter()
        await client.txn([], [Put(key, value)])
        event = await asyncio.wait_for(waiting, 5)
        took = time.perf_counter() - start
        assert event.kv.key == key
        await events.aclose()   # type: ignore[attr-defined]   # an async generator
        return took

    async def run() -> list[float]:
        async with EtcdClient([etcd]) as a, EtcdClient([etcd]) as b:
            return [await once(a, b, i) for i in range(30)]

    times = benchmark.pedantic(lambda: asyncio.run(run()), rounds=1, iterations=1)
    FIGURES["put -> the other site's watch, median ms"] = statistics.median(times) * 1e3
    FIGURES["put -> the other site's watch, p90 ms"] = sorted(times)[int(0.9 * len(times))] * 1e3
    _report()


@pytest.mark.parametrize("per_txn", [1, TXN_OPS])
def test_a_storms_records(etcd: str, benchmark: Any, per_txn: int) -> None:
    async def run() -> float:
        async with EtcdClient([etcd]) as client:
            records = [_record(i) for i in range(MOVES)]
            start = time.perf_counter()
            for i in range(0, MOVES, per_txn):
                await client.txn([], [Put(k, v) for k, v in records[i:i + per_txn]])
            took = time.perf_counter() - start
            kvs, _ = await client.prefix(HOSTS)
            assert len(kvs) >= MOVES
            return took

    took = benchmark.pedantic(lambda: asyncio.run(run()), rounds=1, iterations=1)
    FIGURES[f"{MOVES:,} records, {per_txn} to a txn: ms"] = took * 1e3
    _report()


def test_etcd_refuses_more_operations_than_its_limit_in_one_txn(etcd: str) -> None:
    """Why a storm's records go in transactions of 128: etcd's --max-txn-ops default."""
    from ctrl.ha.etcd import EtcdError

    async def run() -> None:
        async with EtcdClient([etcd]) as client:
            with pytest.raises(EtcdError, match="too many operations"):
                await client.txn([], [Put(*_record(i)) for i in range(TXN_OPS + 1)])

    asyncio.run(run())


