"""The REST client (ctrl/northbound/client.py) against the real API server on loopback: answers,
refusals with the controller's message, an unreachable controller; and PreparedCall,
whose request leaves only on send(), giving what call() gives."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web

from ctrl.control.runner import Controller
from ctrl.control.topology import parse_topology
from ctrl.northbound.api import make_app
from ctrl.northbound.client import ApiError, PreparedCall, call
from ctrl.p4rt.schema import P4Schema
from ctrl.targets.bmv2 import free_tcp_port
from tests.topologies import TOPO, VMS


@pytest.fixture
def api(schema: P4Schema) -> Iterator[tuple[str, Controller]]:
    """HOST:PORT of the API of a controller with no switch connected, served in a thread."""
    controller = Controller(parse_topology(TOPO + VMS), schema, b"{}")
    loop = asyncio.new_event_loop()
    port = free_tcp_port()
    runner = web.AppRunner(make_app(controller))
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{port}", controller
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        for task in asyncio.all_tasks(loop):  # the announced migration's timer
            task.cancel()
        loop.run_until_complete(runner.cleanup())
        loop.close()


def test_call_answers_and_refusals(api: tuple[str, Controller]) -> None:
    address, _ = api
    hosts = call(address, "hosts")
    assert isinstance(hosts, list)
    assert {h["mac"] for h in hosts} == {"02:00:00:00:01:01", "02:00:00:00:01:02"}
    with pytest.raises(ApiError, match=r"404: .*vm9") as exc:
        call(address, "migrate", {"vm": "vm9", "to": "h3"})
    assert exc.value.status == 404


def test_a_prepared_call_is_sent_only_on_send(api: tuple[str, Controller]) -> None:
    address, controller = api
    prepared = PreparedCall(address, "migrate", {"vm": "vm2", "to": "h3"}, "POST")
    # Connected, nothing asked yet: a request made after it, answered, finds nothing.
    assert call(address, "migrations") == {"active": [], "finished": []}
    assert controller.migration("vm2") is None
    prepared.send()
    answer = prepared.answer()
    assert isinstance(answer, dict) and answer["vm"] == "vm2"
    assert controller.migration("vm2") is not None


def test_a_prepared_call_refused_or_unreachable(api: tuple[str, Controller]) -> None:
    address, controller = api
    prepared = PreparedCall(address, "migrate/vm1/switch", None, "POST")
    prepared.send()
    with pytest.raises(ApiError, match="no migration under way") as exc:
        prepared.answer()
    assert exc.value.status is not None and 400 <= exc.value.status < 500
    assert len(controller.core.migrations) == 0
    with pytest.raises(ApiError, match="cannot reach the controller"):
        PreparedCall(f"127.0.0.1:{free_tcp_port()}", "hosts")
