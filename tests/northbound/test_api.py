"""The REST API on a controller whose switches are not connected: reads, errors, announce."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctrl.control.runner import Controller
from ctrl.control.topology import PortRef, parse_topology
from ctrl.northbound.api import make_app
from ctrl.p4rt.entity import TableEntry
from ctrl.p4rt.schema import P4Schema
from tests.topologies import TOPO, VMS


def run(schema: P4Schema, body: Callable[[TestClient[Any, Any], Controller], Awaitable[None]],
        flight_timeout: float = 120.0, may_write: Callable[[], bool] | None = None) -> None:
    """`body` against the API of a running controller whose switches are unreachable."""
    async def main() -> None:
        controller = Controller(parse_topology(TOPO + VMS), schema, b"{}",
                                flight_timeout=flight_timeout, may_write=may_write)
        stop = asyncio.Event()
        task = asyncio.create_task(controller.run(stop))
        try:
            async with TestClient(TestServer(make_app(controller))) as client:
                await body(client, controller)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(main())


def test_reads(schema: P4Schema) -> None:
    async def body(client: TestClient[Any, Any], c: Controller) -> None:
        hosts = await (await client.get("/api/v1/hosts")).json()
        assert [(h["mac"], h["ip"], h["switch"], h["port"]) for h in hosts] == [
            ("02:00:00:00:01:01", "10.0.1.1", "s1", 3), ("02:00:00:00:01:02", "10.0.2.1", "s2", 3)]
        switches = await (await client.get("/api/v1/switches")).json()
        assert [(s["name"], s["connected"], s["primary"], s["in_sync"]) for s in switches] == [
            (name, False, False, False) for name in ("s1", "s2", "s3", "s4")]
        path = await (await client.get("/api/v1/path?src=s2&dst=s4")).json()
        assert path["hops"] == ["s2", "s4"]
        tunnels = await (await client.get("/api/v1/tunnels")).json()
        assert {(t["from"], t["to"], t["up"]) for t in tunnels} == {("s1", "s3", False),
                                                                ("s3", "s1", False)}
        spec = await (await client.get("/api/v1/openapi.json")).json()
        assert "/api/v1/migrate" in spec["paths"]
        metrics = await (await client.get("/metrics")).text()
        assert "mobility_hosts 2.0" in metrics and "mobility_moves_total 0.0" in metrics
        assert 'mobility_switch_repairs_total{switch="s4"} 0.0' in metrics
        assert 'mobility_switch_in_sync{switch="s4"} 0.0' in metrics
        assert 'mobility_switch_packet_ins_malformed_total{switch="s4"} 0.0' in metrics
        assert "mobility_packet_ins_total 0.0" in metrics
        assert "mobility_packet_ins_unparsable_total 0.0" in metrics
        assert 'mobility_move_stage_seconds_bucket{le="+Inf",stage="write"} 0.0' in metrics
        assert "mobility_packet_ins_quiet_total 0.0" in metrics
        assert await (await client.get("/api/v1/moves")).json() == []
        assert all(s["malformed_packet_ins"] == 0 for s in switches)

    run(schema, body)


def test_errors_change_nothing(schema: P4Schema) -> None:
    async def body(client: TestClient[Any, Any], c: Controller) -> None:
        r = await client.get("/api/v1/path?src=s1&dst=s9")
        assert r.status == 404 and "no switch s9" in (await r.json())["error"]
        r = await client.get("/api/v1/path?src=s1&dst=s3")  # other site: no fabric path
        assert r.status == 404
        r = await client.get("/api/v1/path?src=s1")
        assert r.status == 400
        r = await client.post("/api/v1/migrate", json={"vm": "vm9", "to": "h2"})
        assert r.status == 404 and "no VM 'vm9'" in (await r.json())["error"]
        r = await client.post("/api/v1/migrate", json={"vm": "vm1", "to": "h9"})
        assert r.status == 404 and "no hypervisor 'h9'" in (await r.json())["error"]
        r = await client.post("/api/v1/migrate", data=b"not json")
        assert r.status == 400
        r = await client.post("/api/v1/migrate", json={"vm": 1})
        assert r.status == 400
        assert c.core.migrations.provisioned() == {} and len(c.core.migrations) == 0
        r = await client.post("/api/v1/migrate", json=[])
        assert r.status == 400 and "give" in (await r.json())["error"]   # valid JSON back

    run(schema, body)


def test_announced_migration_is_expected_and_provisioned(schema: P4Schema) -> None:
    async def body(client: TestClient[Any, Any], c: Controller) -> None:
        r = await client.post("/api/v1/migrate", json={"vm": "02:00:00:00:01:01", "to": "h4"})
        assert r.status == 202
        reply = await r.json()
        assert (reply["from"], reply["to"]) == ("s1:3", "s4:3")
        assert c.core.migrations.provisioned() == {PortRef("s4", 3): 10}
        wanted = c.wanted()
        assert any(isinstance(e, TableEntry) and e.table == "ingress_port"
                   and e.match["ingress_port"] == 3 for e in wanted["s4"])

    run(schema, body)


def test_announced_migration_delivers_at_both_until_cancelled(schema: P4Schema) -> None:
    async def body(client: TestClient[Any, Any], c: Controller) -> None:
        r = await client.post("/api/v1/migrate", json={"vm": "vm2", "to": "h4"})
        assert r.status == 202
        flight = c.migration("vm2")
        assert flight is not None and flight.dst == PortRef("s4", 3)
        floods = [e for e in c.wanted()["s2"] if isinstance(e, TableEntry)
                  and e.action == "bridging.flood"]
        assert [e.params["group"] for e in floods] == [flight.group]
        listed = await (await client.get("/api/v1/migrations")).json()
        assert [(m["to"], m["phase"]) for m in listed["active"]] == [("s4:3", "announced")]
        r = await client.post("/api/v1/migrate", json={"vm": "vm2", "to": "h2"})
        assert r.status == 404 and "already at h2" in (await r.json())["error"]
        r = await client.delete("/api/v1/migrate/vm2")
        assert r.status == 200 and (await r.json())["at"] == "s2:3"
        assert c.migration("vm2") is None and c.core.migrations.provisioned() == {}
        r = await client.delete("/api/v1/migrate/vm2")
        assert r.status == 404 and "no migration under way" in (await r.json())["error"]
        r = await client.delete("/api/v1/migrate/vm9")
        assert r.status == 404

    run(schema, body)


def test_an_announced_migration_with_no_rarp_is_undone(schema: P4Schema) -> None:
    async def body(client: TestClient[Any, Any], c: Controller) -> None:
        r = await client.post("/api/v1/migrate", json={"vm": "vm1", "to": "h4"})
        assert r.status == 202
        assert c.migration("vm1") is not None
        for _ in range(100):
            await asyncio.sleep(0.02)
            if c.migration("vm1") is None:
                break
        assert c.migration("vm1") is None and c.core.migrations.provisioned() == {}
        listed = await (await client.get("/api/v1/migrations")).json()
        assert [m["phase"] for m in listed["finished"]] == ["expired"]

    run(schema, body, flight_timeout=0.05)


def test_a_migration_by_libvirt_needs_the_controller_to_reach_libvirt(
        schema: P4Schema) -> None:
    async def body(client: TestClient[Any, Any], c: Controller) -> None:
        r = await client.post("/api/v1/migrate", json={"vm": "vm2", "to": "h3",
                                                       "libvirt": True})
        assert r.status == 409 and "ctrl serve --libvirt" in (await r.json())["error"]
        r = await client.post("/api/v1/migrate", json={"vm": "vm2", "to": "h3",
                                                       "libvirt": "yes"})
        assert r.status == 400
        assert len(c.core.migrations) == 0 and c.core.migrations.provisioned() == {}

    run(schema, body)


def test_a_switch_over_moves_the_vm_and_a_cancel_brings_it_back(schema: P4Schema) -> None:
    async def body(client: TestClient[Any, Any], c: Controller) -> None:
        r = await client.post("/api/v1/migrate/vm2/switch")
        assert r.status == 404 and "no migration under way" in (await r.json())["error"]
        await client.post("/api/v1/migrate", json={"vm": "vm2", "to": "h3"})
        r = await client.post("/api/v1/migrate/vm2/switch")
        assert r.status == 200 and (await r.json())["at"] == "s3:3"
        r = await client.delete("/api/v1/migrate/vm2")
        assert r.status == 200 and (await r.json())["at"] == "s2:3"

    run(schema, body)


def test_a_standby_refuses_every_change_and_changes_nothing(schema: P4Schema) -> None:
    async def body(client: TestClient[Any, Any], c: Controller) -> None:
        before = await (await client.get("/api/v1/hosts")).json()
        for method, path, data in (
                ("POST", "/api/v1/migrate", {"vm": "vm2", "to": "h4"}),
                ("POST", "/api/v1/migrate/vm2/switch", None),
                ("DELETE", "/api/v1/migrate/vm2", None)):
            resp = await client.request(method, path, json=data)
            assert resp.status == 409, (path, await resp.text())
            assert "standby" in (await resp.json())["error"]
        assert (await (await client.get("/api/v1/migrations")).json())["active"] == []
        assert c.migration("vm2") is None
        assert await (await client.get("/api/v1/hosts")).json() == before

    run(schema, body, may_write=lambda: False)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8)
_NAMES = st.sampled_from(["vm1", "vm2", "h4", "h2", "02:00:00:00:01:01", "", "vm9"]) | st.text(
    max_size=12)
_MIGRATE_BODY = _JSON | st.fixed_dictionaries(
    {"vm": _NAMES | _JSON, "to": _NAMES | _JSON},
    optional={"libvirt": st.booleans() | _JSON})
_CASES = st.one_of(
    st.tuples(st.just("POST"), st.just("/api/v1/migrate"), _MIGRATE_BODY.map(
        lambda b: json.dumps(b).encode()) | st.binary(max_size=40)),
    st.tuples(st.sampled_from(["DELETE", "POST"]), _NAMES.map(
        lambda n: "/api/v1/migrate/" + urllib.parse.quote(n, safe="")), st.just(b"")),
    st.tuples(st.just("POST"), _NAMES.map(
        lambda n: "/api/v1/migrate/" + urllib.parse.quote(n, safe="") + "/switch"),
              st.just(b"")),
    st.tuples(st.just("GET"), st.tuples(_NAMES, _NAMES).map(
        lambda p: "/api/v1/path?" + urllib.parse.urlencode({"src": p[0], "dst": p[1]})),
              st.just(b"")))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_CASES, min_size=1, max_size=25))
def test_any_request_gets_json_and_an_error_changes_nothing(
        schema: P4Schema, cases: list[tuple[str, str, bytes]]) -> None:
    """Random bodies and names on every writing endpoint and on path: a JSON answer every
    time (an error says what), never a 500, and a refused request leaves the controller's
    migrations and wanted state as they were."""
    async def body(client: TestClient[Any, Any], c: Controller) -> None:
        for method, path, data in cases:
            before = (repr(c.wanted()), repr(sorted(c.core.migrations.provisioned().items())),
                      len(c.core.migrations))
            r = await client.request(method, path, data=data,
                                     headers={"Content-Type": "application/json"})
            assert r.status in (200, 202, 400, 404, 405, 409), (method, path, data, r.status)
            answer = json.loads(await r.text())   # valid JSON, whatever was asked
            if r.status >= 400:
                assert isinstance(answer.get("error"), str) and answer["error"], answer
                after = (repr(c.wanted()),
                         repr(sorted(c.core.migrations.provisioned().items())),
                         len(c.core.migrations))
                assert after == before, (method, path, data)

    run(schema, body)
