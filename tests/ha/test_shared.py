"""Host locations and the migration journal through a real etcd: the primary writes, the
standby's hot copy follows, and made primary its core has them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ctrl.control.diff import Diff
from ctrl.control.migrations import Migration, Phase
from ctrl.control.notices import HostLearned, HostMoved, MigrationChanged
from ctrl.control.runner import Controller
from ctrl.control.topology import PortRef, parse_topology
from ctrl.ha.election import Elector
from ctrl.ha.etcd import EtcdClient
from ctrl.ha.etcdproc import EtcdProcess, free_port
from ctrl.ha.failover import attach
from ctrl.ha.records import (
    HOSTS,
    MIGRATIONS,
    HostRecord,
    HotCopy,
    decode_migration,
    encode_migration,
    key_of,
)
from ctrl.ha.shared import SharedState, ops_for
from ctrl.p4rt.schema import P4Schema

TOPOLOGY = """\
switches:
  s1: {device_id: 1, grpc_addr: "127.0.0.1:1"}
  s2: {device_id: 2, grpc_addr: "127.0.0.1:1"}
links:
  - [s1:1, s2:1]
hypervisors:
  h1: {switch: s1, port: 2}
  h2: {switch: s2, port: 2}
  h3: {switch: s2, port: 3}
vnets:
  blue: {id: 10, gateway_mac: "02:00:00:00:00:01"}
vms:
  vm1: {vnet: blue, mac: "02:00:00:00:01:01", ip: 10.0.0.1, hypervisor: h1}
  vm2: {vnet: blue, mac: "02:00:00:00:01:02", ip: 10.0.0.2, hypervisor: h2}
"""
VM2 = (10, 0x020000000102)


def test_records_round_trip_and_the_copy_follows_puts_and_deletes() -> None:
    m = Migration(10, 0x020000000102, PortRef("s2", 2), PortRef("s2", 3), 1,
                  Phase.ANNOUNCED, 1.0, 2.0)
    assert decode_migration(encode_migration(m)) == m
    rec = HostRecord(PortRef("s1", 2), 0x0A000001)
    assert HostRecord.decode(rec.encode()) == rec
    copy = HotCopy()
    copy.apply("PUT", key_of(HOSTS, VM2), rec.encode(), 5)
    copy.apply("PUT", key_of(MIGRATIONS, VM2), encode_migration(m), 6)
    copy.apply("PUT", key_of(HOSTS, (10, 1)), b"not json", 7)
    assert copy.hosts == {VM2: rec} and copy.flights == {VM2: m}
    assert copy.skipped == 1 and copy.revision == 7
    copy.apply("DELETE", key_of(MIGRATIONS, VM2), b"", 8)
    assert copy.flights == {}
    ops = ops_for([HostLearned(10, 1, None, PortRef("s1", 2), 0.0),
                   HostMoved(10, 1, PortRef("s1", 2), PortRef("s2", 2), 0.0, "sighting"),
                   MigrationChanged(m)])
    assert len(ops) == 2   # one op per key: the last


def test_an_api_step_writes_the_switches_then_etcd_then_answers(etcd: EtcdProcess,
                                                                schema: P4Schema) -> None:
    """A move's notices come as its plan is queued; its txn waits for the switches' writes
    (sent in front of them, it made every move of a pair slower), and the API step
    answers once it is in etcd (a migration acknowledged is one the standby knows)."""
    from tests.control.test_runner import RecordingSession

    async def go() -> None:
        c = _controller(schema)
        e = Elector(EtcdClient([etcd.url]), "a", (0, 1))
        s = SharedState(c, e)
        attach(c, e, s)
        etcd_writes_then: list[int] = []   # s.written as each switch write lands

        class Watching(RecordingSession):
            async def apply_parts(self, parts: Sequence[tuple[int | None, Diff]]) -> int:
                n = await super().apply_parts(parts)
                etcd_writes_then.append(s.written)
                return n

        for name, sess in list(c.sessions.items()):
            fake = Watching(sess.switch, schema, b"", sess.on_packets, sess.wanted)
            fake.log, fake.delay = [], 0.05
            c.sessions[name] = fake
        stop = asyncio.Event()
        tasks = [asyncio.create_task(e.run(stop)), asyncio.create_task(s.run(stop))]
        await _until(lambda: s.written > 0)   # elected: its snapshot written
        before = s.written
        await c.announce("vm2", "h3")
        kv = await e.etcd.get(key_of(MIGRATIONS, VM2))   # there as the step answers
        assert kv is not None and decode_migration(kv.value).phase is Phase.ANNOUNCED
        assert etcd_writes_then and set(etcd_writes_then) == {before}   # switches first
        assert s.written > before
        stop.set()
        for t in tasks:
            await t
        await c.aclose()
        await e.etcd.close()
    asyncio.run(go())


def _controller(schema: P4Schema) -> Controller:
    return Controller(parse_topology(TOPOLOGY, "test"), schema, b"")


async def _until(cond: object, timeout: float = 8.0) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not cond():   # type: ignore[operator]
        assert loop.time() - start < timeout, "not in time"
        await asyncio.sleep(0.02)


def test_the_standby_takes_over_knowing_locations_and_flights(etcd: EtcdProcess,
                                                              schema: P4Schema) -> None:
    async def go() -> None:
        ca, cb = _controller(schema), _controller(schema)
        ea = Elector(EtcdClient([etcd.url]), "a", (0, 1))
        eb = Elector(EtcdClient([etcd.url]), "b", (0, 2))
        sa, sb = SharedState(ca, ea), SharedState(cb, eb)
        attach(ca, ea, sa)
        attach(cb, eb, sb)
        stop_a, stop_b = asyncio.Event(), asyncio.Event()
        tasks_a = [asyncio.create_task(ea.run(stop_a)), asyncio.create_task(sa.run(stop_a))]
        await _until(ea.may_write)
        tasks_b = [asyncio.create_task(eb.run(stop_b)), asyncio.create_task(sb.run(stop_b))]
        await _until(lambda: eb.standing.leader == "a")
        # the primary: vm2 announced to h3, then switched over (it is at s2:3 now)
        ca.core.announce("vm2", "h3", ca.clock())
        ca.core.switch_over("vm2", ca.clock())
        ca.feed.publish(ca.core.take_notices())
        await _until(lambda: VM2 in sb.copy.flights
                     and sb.copy.flights[VM2].phase is Phase.SWITCHED)
        assert sb.copy.hosts[VM2] == HostRecord(PortRef("s2", 3), 0x0A000002)
        assert cb.core.find("vm2").location == PortRef("s2", 2)   # not taken yet
        # a crashes (no resignation): b's lease-bound takeover
        live, ea.etcd = ea.etcd, EtcdClient([f"http://127.0.0.1:{free_port()}"], timeout=0.1)
        sa.etcd = ea.etcd
        await live.close()
        for t in tasks_a:
            t.cancel()
        await _until(eb.may_write)
        assert cb.core.find("vm2").location == PortRef("s2", 3)
        flight = cb.core.migrations.get(VM2)
        assert flight is not None and flight.phase is Phase.SWITCHED
        # b writes its own state under its term; a write under a's old term would not land
        await _until(lambda: sb.written > 0)
        kv = await eb.etcd.get(key_of(HOSTS, VM2))
        assert kv is not None and HostRecord.decode(kv.value).at == PortRef("s2", 3)
        stop_b.set()
        for t in tasks_b:
            await t
        await eb.etcd.close()
        await ea.etcd.close()   # the dead end put in place of a's
    asyncio.run(go())


def test_a_write_under_an_old_term_does_not_land(etcd: EtcdProcess, schema: P4Schema) -> None:
    async def go() -> None:
        c = _controller(schema)
        e = Elector(EtcdClient([etcd.url]), "a", (0, 1))
        s = SharedState(c, e)
        stop = asyncio.Event()
        task = asyncio.create_task(e.run(stop))
        await _until(e.may_write)
        e.standing.term -= 1   # as if another leader had been elected since
        await s.snapshot()
        assert s.refused == 1 and s.written == 0 and not e.may_write()
        assert (await e.etcd.prefix(HOSTS))[0] == []
        stop.set()
        await task
        await e.etcd.close()
    asyncio.run(go())
