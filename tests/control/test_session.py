"""SwitchManager against real bmv2: pipeline push, read-back, diffs, repair, reconnect."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctrl.control.session import Backoff, SwitchManager
from ctrl.control.topology import Switch
from ctrl.p4rt.build import BuildPaths
from ctrl.p4rt.entity import Entity, PacketIn, TableEntry, insert
from ctrl.p4rt.schema import P4Schema
from ctrl.targets.bmv2 import Bmv2Switch, find_simple_switch_grpc

pytestmark = pytest.mark.skipif(find_simple_switch_grpc() is None,
                                reason="bmv2 simple_switch_grpc is not on PATH")


def fwd(mac: int, port: int) -> TableEntry:
    return TableEntry("bridging", {"vnet_id": 10, "eth_dst": mac}, "bridging.forward",
                      {"port": port})


async def _noop(name: str, pkts: list[PacketIn]) -> None:
    return None


@pytest.fixture
def bmv2(tmp_path: Path) -> Iterator[Bmv2Switch]:
    sw = Bmv2Switch({}, device_id=1, log_file=tmp_path / "bmv2.log")
    sw.start()
    yield sw
    sw.stop()


def test_connect_push_apply_and_reconnect(bmv2: Bmv2Switch, build_paths: BuildPaths,
                                          schema: P4Schema) -> None:
    async def scenario() -> None:
        topo_sw = Switch("s1", "default", bmv2.device_id, bmv2.grpc_addr)
        mgr = SwitchManager(topo_sw, schema, build_paths.json.read_bytes(), _noop,
                            backoff=Backoff(first=0.05, limit=0.2))
        stop = asyncio.Event()
        task = asyncio.create_task(mgr.run(stop), name="s1")
        await asyncio.wait_for(mgr.ready.wait(), 20)
        assert mgr.installed == {}  # a fresh switch: the pipeline was pushed, nothing held

        wanted: list[Entity] = [fwd(1, 1), fwd(2, 2)]
        assert await mgr.apply(wanted) == 2
        assert await mgr.apply(wanted) == 0  # nothing is written twice
        assert await mgr.apply([fwd(1, 1), fwd(2, 3)]) == 1  # only the changed next hop

        # Someone else changed the switch behind our back: a refused write is repaired.
        assert mgr.client is not None
        await mgr.client.write([insert(fwd(9, 9))])
        mgr.installed = {fwd(1, 1).key(): fwd(1, 1)}  # stale belief: thinks fwd(2, 3) is absent
        await mgr.apply([fwd(1, 1), fwd(2, 3)])
        held = await mgr.read_state(mgr.client)
        assert sorted(e.key() for e in held) == sorted(e.key() for e in [fwd(1, 1), fwd(2, 3)])
        stop.set()
        await asyncio.wait_for(task, 10)

        # A second manager finds the state in place and writes nothing.
        mgr2 = SwitchManager(topo_sw, schema, build_paths.json.read_bytes(), _noop)
        stop2 = asyncio.Event()
        task2 = asyncio.create_task(mgr2.run(stop2), name="s1-again")
        await asyncio.wait_for(mgr2.ready.wait(), 20)
        assert await mgr2.apply([fwd(1, 1), fwd(2, 3)]) == 0
        stop2.set()
        await asyncio.wait_for(task2, 10)

    asyncio.run(scenario())


def test_unreachable_switch_is_retried_with_backoff(schema: P4Schema,
                                                    build_paths: BuildPaths) -> None:
    async def scenario() -> None:
        topo_sw = Switch("nowhere", "default", 1, "127.0.0.1:1")
        mgr = SwitchManager(topo_sw, schema, b"{}", _noop,
                            backoff=Backoff(first=0.05, limit=0.1))
        stop = asyncio.Event()
        task = asyncio.create_task(mgr.run(stop))
        await asyncio.sleep(1.0)
        assert not mgr.ready.is_set()
        stop.set()
        await asyncio.wait_for(task, 15)

    asyncio.run(scenario())
