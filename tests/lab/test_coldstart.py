"""A controller killed and another started from a topology with no VMs, on the sink target
(small: a k=4 fat-tree, 200 VMs): every host adopted from what the switches hold, every
switch in sync, nothing written. The 100,000-VM run is bench/bench_scale.py with
VM_MOBILITY_BIG=1."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from ctrl.control.session import read_state
from ctrl.lab import procs
from ctrl.lab.coldstart import cold_start, cold_starts
from ctrl.lab.fattree import scale_hosts
from ctrl.lab.storm import SinkFabric
from ctrl.northbound.client import call
from ctrl.p4rt.client import P4Client
from ctrl.p4rt.entity import Entity, TableEntry, Update, delete, insert, modify
from ctrl.p4rt.schema import P4Schema


def test_a_cold_start_adopts_every_host_and_writes_nothing(tmp_path: Path) -> None:
    r = cold_start(4, 200, 8, "pod", tmp_path)
    assert r.hosts_adopted == 200 and r.written == 0
    assert r.entries > 200 and r.switches == 20
    assert r.in_sync_s > 0 and r.rss_mb > 0 and r.peak_mb >= r.rss_mb
    assert r.cpu_s > 0 and r.load >= 0


def test_switches_filled_once_serve_several_cold_starts(tmp_path: Path) -> None:
    runs = cold_starts(4, 50, 4, "pod", tmp_path, 2)
    assert [(r.hosts_adopted, r.written) for r in runs] == [(50, 0), (50, 0)]
    assert runs[0].entries == runs[1].entries and runs[0].fill_s == runs[1].fill_s


def _read(fabric: SinkFabric, schema: P4Schema, switch: str) -> dict[object, Entity]:
    sw = fabric.topology.switches[switch]

    async def body() -> list[Entity]:
        async with P4Client(sw.grpc_addr, sw.device_id) as c:
            c.schema = schema
            return await read_state(c, schema)

    return {e.key(): e for e in asyncio.run(body())}


def _write(fabric: SinkFabric, schema: P4Schema, switch: str, updates: list[Update]) -> None:
    sw = fabric.topology.switches[switch]

    async def body() -> None:
        async with P4Client(sw.grpc_addr, sw.device_id) as c:
            c.schema = schema
            await c.write(updates)

    asyncio.run(body())


def test_a_cold_start_mends_entries_lost_gained_or_changed_while_it_was_away(
        tmp_path: Path, schema: P4Schema) -> None:
    """Switches filled, the controller killed, then on a switch with no hypervisor (what
    it holds says nothing of where hosts are) a host's entry deleted, another's changed and
    one for nobody added, and on an edge switch a host route deleted: the next controller
    writes exactly those four back (an insert, a modify, a delete, an insert) and every
    switch holds again what it held when filled."""
    hosts = scale_hosts(4, 40, 4, "pod", 1)
    with SinkFabric(tmp_path, hosts) as fabric:
        topo = fabric.topology
        edges = {h.attach.switch for h in topo.hypervisors.values()}
        first = fabric.started[-1]
        procs.kill(first)
        fabric.started.remove(first)
        filled = {sw: _read(fabric, schema, sw) for sw in topo.switches}

        def bridging(sw: str) -> int:
            return sum(isinstance(e, TableEntry) and e.table == "bridging"
                       for e in filled[sw].values())

        inner = max(sorted(set(topo.switches) - edges), key=bridging)
        edge = sorted(edges)[0]
        bridged = sorted((k, e) for k, e in filled[inner].items()
                         if isinstance(e, TableEntry) and e.table == "bridging")
        (_, lost), (_, changed) = bridged[0], bridged[1]
        assert isinstance(changed, TableEntry)
        other = dataclasses.replace(changed, action="bridging.to_cpu", params={})
        extra = TableEntry("bridging", {"vnet_id": 1, "eth_dst": 0x02EE00000001},
                           "bridging.to_cpu")
        _write(fabric, schema, inner, [delete(lost), modify(other), insert(extra)])
        route = next(e for e in filled[edge].values()
                     if isinstance(e, TableEntry) and e.table == "routing_v4")
        _write(fabric, schema, edge, [delete(route)])
        assert len(_read(fabric, schema, inner)) == len(filled[inner])   # -1 +1
        second = fabric.start_controller(tmp_path / "topology-bare.yaml", "controller-2.log")
        rows = call(fabric.api, "switches", timeout=30)
        assert isinstance(rows, list)
        written = {str(r["name"]): int(r.get("writes", 0)) for r in rows}
        assert {sw: n for sw, n in written.items() if n} == {inner: 3, edge: 1}
        known = call(fabric.api, "hosts", timeout=30)
        assert isinstance(known, list) and len(known) == 40
        procs.kill(second)   # (its election id taken: read after it)
        fabric.started.remove(second)
        for sw in topo.switches:
            assert _read(fabric, schema, sw) == filled[sw], sw
