"""A switch session against a real P4Runtime target (the Open vSwitch target here, bmv2
where installed): pipeline, sync, writes, a refusal repaired, backup and promotion, a
broken connection and its return. The status is checked against the switch itself."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path

import pytest

from ctrl.control.diff import Diff, diff
from ctrl.control.session import Backoff, SessionError, SwitchSession, read_state
from ctrl.control.topology import Switch
from ctrl.fastpath.stream import PuntBatch
from ctrl.p4rt.build import BuildPaths
from ctrl.p4rt.entity import Entity, TableEntry, insert
from ctrl.p4rt.schema import P4Schema
from ctrl.targets.bmv2 import Bmv2Switch, find_simple_switch_grpc
from tests.packet.ovs_target import one_bridge_server
from tests.tcpcut import CuttableRelay
from tests.waiting import until

FAST = Backoff(first=0.05, limit=0.3)


def fwd(mac: int, port: int) -> TableEntry:
    return TableEntry("bridging", {"vnet_id": 10, "eth_dst": mac}, "bridging.forward",
                      {"port": port})


def _noop(name: str, batch: PuntBatch) -> None:
    return None


@pytest.fixture(params=["ovs", "bmv2"])
def target(request: pytest.FixtureRequest, tmp_path: Path, schema: P4Schema,
           build_paths: BuildPaths) -> Iterator[tuple[str, int, bytes]]:
    """(address, device id, the device config to push) of a fresh switch."""
    if request.param == "ovs":
        with one_bridge_server(tmp_path, schema, "ses") as address:
            yield address, 1, build_paths.json.read_bytes()
        return
    if find_simple_switch_grpc() is None:
        pytest.skip("bmv2 simple_switch_grpc is not on PATH")
    sw = Bmv2Switch({}, device_id=1, log_file=tmp_path / "bmv2.log")
    sw.start()
    try:
        yield sw.grpc_addr, sw.device_id, build_paths.json.read_bytes()
    finally:
        sw.stop()




@contextlib.asynccontextmanager
async def running(session: SwitchSession) -> AsyncIterator[SwitchSession]:
    stop = asyncio.Event()
    task = asyncio.create_task(session.run(stop), name=session.name)
    try:
        yield session
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def session_of(address: str, device: int, config: bytes, schema: P4Schema,
               wanted: list[Entity], election: int = 1) -> SwitchSession:
    return SwitchSession(Switch("s1", "default", device, address), schema, config, _noop,
                         lambda: wanted, (0, election), FAST)


async def held(s: SwitchSession) -> set[object]:
    assert s.client is not None
    return {e.key() for e in await read_state(s.client, s.schema)}


def scenario(body: Callable[[], Coroutine[None, None, None]]) -> None:
    asyncio.run(body())


def test_sync_then_only_what_changes_is_written(target: tuple[str, int, bytes],
                                                schema: P4Schema) -> None:
    async def body() -> None:
        wanted: list[Entity] = [fwd(1, 1), fwd(2, 2)]
        s = session_of(*target, schema, wanted)
        assert not s.status().in_sync and not s.status().connected
        async with running(s):
            assert await until(lambda: s.status().in_sync)
            st = s.status()
            assert st.connected and st.primary and st.pipeline == "pushed"
            assert await held(s) == {e.key() for e in wanted}
            assert s.synced_version == 0 and s.entries == 2
            assert await s.apply(Diff((insert(fwd(3, 3)),), (), ()), version=1) == 1
            # a change made before the sync (its version is the sync's): in it already
            assert await s.apply(Diff((insert(fwd(3, 3)),), (), ()), version=0) == 0
            wanted += [fwd(3, 3)]
            change = diff([fwd(1, 1), fwd(2, 5), fwd(3, 3)], wanted)
            assert await s.apply(change, version=2) == 1      # only the changed next hop
            assert s.entries == 3
            assert s.status().repairs == 0
        assert not s.status().connected and not s.status().in_sync

    scenario(body)


def test_a_refused_write_is_out_of_sync_until_the_resync(target: tuple[str, int, bytes],
                                                         schema: P4Schema) -> None:
    async def body() -> None:
        wanted: list[Entity] = [fwd(1, 1)]
        s = session_of(*target, schema, wanted)
        async with running(s):
            assert await until(lambda: s.status().in_sync)
            assert s.client is not None
            await s.client.write([insert(fwd(9, 9))])     # behind the session's back
            wanted.append(fwd(9, 9))
            with pytest.raises(SessionError, match="ALREADY_EXISTS"):
                await s.apply(Diff((insert(fwd(9, 9)),), (), ()))
            st = s.status()
            assert st.repairs == 1 and "ALREADY_EXISTS" in st.last_error
            assert st.last_error_at is not None
            assert await until(lambda: s.status().in_sync)    # read back, diffed, written
            assert await held(s) == {e.key() for e in wanted}

    scenario(body)


def test_a_backup_writes_nothing_and_syncs_when_promoted(target: tuple[str, int, bytes],
                                                         schema: P4Schema) -> None:
    async def body() -> None:
        wanted: list[Entity] = [fwd(1, 1)]
        a = session_of(*target, schema, wanted, election=1)
        async with running(a):
            assert await until(lambda: a.status().in_sync)
            other: list[Entity] = [fwd(1, 1), fwd(7, 7)]
            b = session_of(*target, schema, other, election=2)
            async with running(b):
                assert await until(lambda: b.status().in_sync)
                assert await until(lambda: not a.status().primary)
                st = a.status()
                assert st.connected and not st.in_sync
                with pytest.raises(SessionError, match="not primary"):
                    await a.apply(Diff((insert(fwd(5, 5)),), (), ()))
                assert await held(b) == {e.key() for e in other}
            # b is gone: a is promoted, reads back what b left and makes it its own
            assert await until(lambda: a.status().in_sync)
            assert a.status().primary and a.status().pipeline == "kept"
            assert await held(a) == {e.key() for e in wanted}

    scenario(body)


def test_a_broken_connection_reconnects_and_resyncs(target: tuple[str, int, bytes],
                                                    schema: P4Schema) -> None:
    async def body() -> None:
        address, device, config = target
        async with CuttableRelay(address) as relay:
            wanted: list[Entity] = [fwd(1, 1)]
            s = session_of(relay.address, device, config, schema, wanted)
            async with running(s):
                assert await until(lambda: s.status().in_sync)
                relay.cut()
                assert await until(lambda: not s.status().connected)
                assert not s.status().in_sync and "UNAVAILABLE" in s.status().last_error
                with pytest.raises(SessionError, match="not connected"):
                    await s.apply(Diff((insert(fwd(4, 4)),), (), ()))
                wanted.append(fwd(4, 4))                 # wanted meanwhile: synced later
                relay.restore()
                assert await until(lambda: s.status().in_sync)
                st = s.status()
                assert st.reconnects == 1 and st.pipeline == "kept"
                assert await held(s) == {e.key() for e in wanted}

    scenario(body)


def test_an_unreachable_switch_is_retried_and_said_so(schema: P4Schema) -> None:
    async def body() -> None:
        s = session_of("127.0.0.1:1", 1, b"{}", schema, [])
        async with running(s):
            assert await until(lambda: "connecting" in s.status().last_error, 10)
            assert not s.status().connected and not s.status().in_sync

    scenario(body)


def test_a_higher_election_id_on_an_open_stream_takes_the_switch_back(
        target: tuple[str, int, bytes], schema: P4Schema) -> None:
    async def body() -> None:
        a = session_of(*target, schema, [fwd(1, 1)], election=1)
        b = session_of(*target, schema, [fwd(2, 2)], election=2)
        async with running(a), running(b):
            assert await until(lambda: b.status().in_sync and not a.status().primary)
            await a.set_election_id((1, 0))          # a leader now, above b
            assert await until(lambda: a.status().in_sync and not b.status().primary)
            assert await held(a) == {fwd(1, 1).key()}
            with pytest.raises(SessionError, match="not primary"):   # b is fenced
                await b.apply(Diff((insert(fwd(6, 6)),), (), ()))
            await a.set_election_id((0, 1))          # and steps down again
            assert await until(lambda: b.status().in_sync and not a.status().primary)

    scenario(body)
