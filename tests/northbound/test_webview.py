"""The web view's server side on a running controller (its switches unreachable): the
page and its files, the topology, the live feed (snapshot, notices, a slow page dropped,
keep-alives, shutdown with pages open)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from ctrl.control.notices import TunnelsChanged
from ctrl.control.runner import Controller
from ctrl.control.topology import parse_topology
from ctrl.northbound import webview
from ctrl.northbound.api import make_app
from ctrl.northbound.auth import ApiAuth
from ctrl.p4rt.schema import P4Schema
from tests.topologies import TOPO, VMS

Body = Callable[[TestClient[Any, Any], Controller], Awaitable[None]]
TOKEN = "a-token-of-sixteen-characters"


def run(schema: P4Schema, body: Body, auth: ApiAuth | None = None) -> None:
    async def main() -> None:
        controller = Controller(parse_topology(TOPO + VMS), schema, b"{}")
        stop = asyncio.Event()
        task = asyncio.create_task(controller.run(stop))
        try:
            async with TestClient(TestServer(make_app(controller, auth=auth))) as client:
                await body(client, controller)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(main())


async def next_event(resp: aiohttp.ClientResponse, timeout: float = 10.0) -> dict[str, Any]:
    """The next `data:` message of a server-sent event stream."""
    data = []
    while True:
        line = (await asyncio.wait_for(resp.content.readline(), timeout)).decode()
        if line == "":
            raise EOFError("the stream ended")
        if line.startswith("data: "):
            data.append(line[6:].rstrip("\n"))
        elif line == "\n" and data:
            out: dict[str, Any] = json.loads("".join(data))
            return out


async def until_kind(resp: aiohttp.ClientResponse, kind: str) -> dict[str, Any]:
    while True:
        msg = await next_event(resp)
        if msg["kind"] == kind:
            return msg


def test_the_page_and_its_files(schema: P4Schema) -> None:
    async def body(client: TestClient[Any, Any], c: Controller) -> None:
        r = await client.get("/")
        assert r.status == 200 and r.content_type == "text/html"
        html = await r.text()
        assert '<script type="module" src="/web/app.js">' in html
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
        for name, kind in webview.STATIC.items():
            r = await client.get(f"/web/{name}")
            assert (r.status, r.content_type) == (200, kind), name
        for bad in ("nope.js", "..%2Fapi.py", "%2E%2E%2Fwebview.py"):
            r = await client.get(f"/web/{bad}")
            assert r.status == 404, bad
        # every module the page imports is one the server serves
        for name in webview.STATIC:
            if name.endswith(".js"):
                text = await (await client.get(f"/web/{name}")).text()
                for line in text.splitlines():
                    if line.startswith("import ") and " from " in line:
                        target = line.split('"')[1].removeprefix("./")
                        assert target in webview.STATIC, (name, target)

    run(schema, body)


def test_topology_says_whether_a_token_is_needed(schema: P4Schema) -> None:
    async def body(client: TestClient[Any, Any], c: Controller) -> None:
        out = await (await client.get("/api/v1/topology")).json()
        assert [s["name"] for s in out["switches"]] == ["s1", "s2", "s4", "s3"]
        assert out["token_needed"] is True
        r = await client.get("/api/v1/events")     # reads stay open
        assert r.status == 200
        r.close()

    run(schema, body, ApiAuth(TOKEN))


def test_the_feed_starts_with_a_snapshot_then_tells_each_change(schema: P4Schema) -> None:
    async def body(client: TestClient[Any, Any], c: Controller) -> None:
        resp = await client.get("/api/v1/events")
        assert resp.headers["Content-Type"] == "text/event-stream"
        snap = await next_event(resp)
        assert snap["kind"] == "snapshot"
        kinds = [n["kind"] for n in snap["data"]["notices"]]
        assert kinds.count("host-learned") == 2 and kinds.count("switch") == 4
        r = await client.post("/api/v1/migrate", json={"vm": "vm1", "to": "h2"})
        assert r.status == 202
        m = await until_kind(resp, "migration")
        assert (m["data"]["mac"], m["data"]["to"], m["data"]["phase"]) == \
            ("02:00:00:00:01:01", "s2:3", "announced")
        assert (await client.delete("/api/v1/migrate/vm1")).status == 200
        m = await until_kind(resp, "migration")
        assert m["data"]["phase"] == "cancelled"
        # any kind the feed carries goes out as it is
        c.feed.publish([TunnelsChanged(frozenset({("s1", "s3")}), c.clock())])
        t = await until_kind(resp, "tunnels")
        assert t["data"]["up"] == [["s1", "s3"]]
        resp.close()

    run(schema, body)


def test_a_page_that_falls_behind_is_dropped_and_the_controller_goes_on(
        schema: P4Schema) -> None:
    async def body(client: TestClient[Any, Any], c: Controller) -> None:
        view = client.app[webview.VIEW]
        c.feed.backlog = 5
        resp = await client.get("/api/v1/events")
        assert (await next_event(resp))["kind"] == "snapshot"
        # Ten notices at once, before the page's stream gets to run: five are dropped.
        c.feed.publish([TunnelsChanged(frozenset(), float(i)) for i in range(10)])
        lost = await until_kind(resp, "lost")
        assert lost["data"] == {"notices": 5}
        with pytest.raises(EOFError):
            await next_event(resp)
        assert view.dropped == 1 and view.streams == 0
        assert c.feed._subs == []
        # another page is served as before
        again = await client.get("/api/v1/events")
        assert (await next_event(again))["kind"] == "snapshot"
        again.close()

    run(schema, body)


def test_keep_alives_carry_the_controllers_clock(schema: P4Schema,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webview, "HEARTBEAT", 0.05)

    async def body(client: TestClient[Any, Any], c: Controller) -> None:
        resp = await client.get("/api/v1/events")
        await next_event(resp)
        clock = await until_kind(resp, "clock")
        assert clock["data"]["now"] <= c.clock()
        resp.close()

    run(schema, body)


def test_traffic_is_sampled_only_while_a_page_is_open(schema: P4Schema) -> None:
    async def body(client: TestClient[Any, Any], c: Controller) -> None:
        view = client.app[webview.VIEW]
        assert view.sampler is not None
        view.sampler.interval = 0.05
        await asyncio.sleep(0.3)
        assert view.sampler.seq == 0                 # nobody looks: nothing read
        resp = await client.get("/api/v1/events")
        traffic = await until_kind(resp, "traffic")  # no switch connected: nothing known
        assert traffic["data"]["links"] == [] and traffic["data"]["switches"] == {}
        resp.close()

    run(schema, body)


def test_the_server_stops_with_pages_open(schema: P4Schema) -> None:
    async def main() -> None:
        controller = Controller(parse_topology(TOPO + VMS), schema, b"{}")
        client = TestClient(TestServer(make_app(controller)))
        await client.start_server()
        resps = [await client.get("/api/v1/events") for _ in range(3)]
        for r in resps:
            assert (await next_event(r))["kind"] == "snapshot"
        # aiohttp waits up to a minute for open requests: the streams must end first.
        await asyncio.wait_for(client.close(), 10)
        assert controller.feed._subs == []

    asyncio.run(main())


def test_host_paths_through_the_api(schema: P4Schema) -> None:
    async def body(client: TestClient[Any, Any], c: Controller) -> None:
        out = await (await client.get("/api/v1/path?src=vm1&dst=02:00:00:00:01:02")).json()
        assert out["hops"] == ["s1", "s2"] and out["tunnel"] is None
        assert out["dst"]["name"] == "vm2"
        r = await client.get("/api/v1/path?src=vm1&dst=vm9")
        assert r.status == 404 and "no VM 'vm9'" in (await r.json())["error"]
        switches = await (await client.get("/api/v1/path?src=s2&dst=s4")).json()
        assert switches["hops"] == ["s2", "s4"]      # switch names as before

    run(schema, body)


def test_a_burst_is_encoded_in_turns_of_the_loop() -> None:
    """Thousands of notices at once: the controller's other tasks run in between."""
    notices = [TunnelsChanged(frozenset(), float(i)) for i in range(5 * webview.CHUNK)]

    async def main() -> int:
        turns = 0

        async def other() -> None:
            nonlocal turns
            while True:
                turns += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(other())
        await asyncio.sleep(0)
        before = turns
        out = await webview._in_turns(notices, webview._notice_event)
        task.cancel()
        assert len(out) == len(notices)
        assert json.loads(out[-1].decode()[6:]) == {"kind": "tunnels", "data": {
            "up": [], "time": float(len(notices) - 1)}}
        return turns - before

    assert asyncio.run(main()) >= 4


def test_a_snapshot_of_many_hosts_arrives_whole(schema: P4Schema) -> None:
    many = "vms:\n" + "".join(
        f'  v{i}: {{vnet: blue, mac: "02:00:00:01:{i // 256:02x}:{i % 256:02x}", '
        f"ip: 10.1.{i // 250}.{1 + i % 250}, hypervisor: h{1 + i % 4}}}\n" for i in range(1500))

    async def main() -> None:
        controller = Controller(parse_topology(TOPO + many), schema, b"{}")
        async with TestClient(TestServer(make_app(controller))) as client:
            resp = await client.get("/api/v1/events")
            snap = await next_event(resp)
            hosts = [n for n in snap["data"]["notices"] if n["kind"] == "host-learned"]
            assert len(hosts) == 1500
            assert {h["data"]["at"] for h in hosts} == {"s1:3", "s2:3", "s3:3", "s4:3"}
            resp.close()

    asyncio.run(main())
