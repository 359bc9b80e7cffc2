"""ctrl.northbound.hypervisors on libvirt's test driver (test:///default): domain events reach the
controller as announcements and cancels, with the VM found by its domain's name or MAC;
a migration libvirt cannot make cancels the announcement it was readied with.

The test driver keeps its domains in memory and cannot migrate: the events of a
migration (STARTED/MIGRATED at the destination, ...) are handed to the monitors as
libvirt would hand them, with the test driver's own domain objects; the driver's
real lifecycle events go through the same monitors."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from ctrl.control.hosts import Host, HostError
from ctrl.control.runner import Controller
from ctrl.control.topology import PortRef, parse_topology
from ctrl.northbound.hvevents import Announce, Cancel
from ctrl.northbound.hypervisors import HypervisorError, Hypervisors, domain_macs, parse_uris
from ctrl.p4rt.schema import P4Schema
from ctrl.vm.libvirt_events import STARTED_MIGRATED, STOPPED_MIGRATED, Lifecycle
from tests.northbound.domains import DOMAIN, TEST, TOPO, define
from tests.waiting import until

libvirt = pytest.importorskip("libvirt", reason="libvirt-python is not installed")
pytestmark = pytest.mark.libvirt







class FakeController:
    """What Hypervisors needs of a Controller, recording what it is told."""

    def __init__(self) -> None:
        self.topo = parse_topology(TOPO)
        self.told: list[tuple[str, str]] = []
        self.causes: list[str] = []

    async def announce(self, vm: str, hypervisor: str, cause: str = "") -> None:
        self.told.append(("announce", f"{vm}@{hypervisor}"))
        self.causes.append(cause)

    async def switch_over(self, vm: str) -> None:
        self.told.append(("switch over", vm))

    async def cancel(self, vm: str) -> None:
        self.told.append(("cancel", vm))

    def find(self, vm: str) -> Host:
        raise HostError(f"no VM {vm!r} here")

    def hypervisor_of(self, vm: str) -> str | None:
        return None






async def lifecycle(hvs: Hypervisors, hv: str, dom: Any, event: int, detail: int) -> None:
    """A lifecycle event of `dom`, delivered to `hv`'s monitor on another thread, as
    libvirt's event loop would."""
    monitor = hvs.monitors[hv]
    await asyncio.to_thread(monitor._lifecycle, monitor.conn, dom, event, detail, None)


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


def test_a_domain_coming_in_is_announced_by_its_mac_and_a_failure_cancels() -> None:
    async def body() -> None:
        fake = FakeController()
        async with Hypervisors(fake, {"hv-a": TEST, "hv-b": TEST}) as hvs:
            dom = define(hvs.monitors["hv-b"].conn, f"instance-{uuid.uuid4().hex[:6]}")
            real: list[object] = []
            hvs.monitors["hv-b"].on_event = real.append
            try:
                dom.create()   # the driver's own events: no migration in them
                dom.destroy()
                assert await until(lambda: len(real) >= 2), real   # delivered: then ours
                await lifecycle(hvs, "hv-b", dom, Lifecycle.STARTED, STARTED_MIGRATED)
                await lifecycle(hvs, "hv-b", dom, Lifecycle.STOPPED, 1)       # it died
                assert await until(lambda: len(fake.told) == 2), fake.told
            finally:
                dom.undefine()
        assert fake.told == [("announce", "web@hv-b"), ("cancel", "web")]
        assert [a for _, a, _ in hvs.applied] == [Announce("web", "hv-b"), Cancel("web")]

    run(body)


def test_the_controller_announces_a_vm_its_hypervisor_says_is_coming(
        schema: P4Schema) -> None:
    async def body() -> None:
        c = Controller(parse_topology(TOPO), schema, b"{}")
        host = c.find("web")
        async with Hypervisors(c, {"hv-a": TEST, "hv-b": TEST}) as hvs:
            dom = define(hvs.monitors["hv-b"].conn, "web")
            try:
                await lifecycle(hvs, "hv-b", dom, Lifecycle.STARTED, STARTED_MIGRATED)
                assert await until(lambda: c.migration("web") is not None)
                flight = c.migration("web")
                assert flight is not None and flight.dst == PortRef("s1", 2)
                assert c.core.migrations.expected(host.key) == PortRef("s1", 2)
                assert c.core.migrations.provisioned() == {PortRef("s1", 2): 10}
                # The source says it is gone: nothing more to do until the RARP.
                seen = hvs.handled
                await lifecycle(hvs, "hv-a", dom, Lifecycle.STOPPED, STOPPED_MIGRATED)
                assert await until(lambda: hvs.handled > seen)
                assert c.migration("web") is flight
                await lifecycle(hvs, "hv-b", dom, Lifecycle.CRASHED, 0)   # and yet
                assert await until(lambda: len(hvs.applied) == 2)
                assert c.migration("web") is None
            finally:
                dom.undefine()
        assert c.core.migrations.provisioned() == {}
        assert [e for _, _, e in hvs.applied] == [None, None]

    run(body)


def test_a_migration_libvirt_cannot_make_changes_nothing(schema: P4Schema) -> None:
    async def body() -> None:
        c = Controller(parse_topology(TOPO), schema, b"{}")
        async with Hypervisors(c, {"hv-a": TEST, "hv-b": TEST}) as hvs:
            dom = define(hvs.monitors["hv-a"].conn, "web")
            dom.create()
            try:
                # The test driver migrates nothing: libvirt refuses, the network is back.
                with pytest.raises(HypervisorError, match="did not migrate web"):
                    await hvs.migrate("web", "hv-b")
                assert c.migration("web") is None and c.core.migrations.provisioned() == {}
                with pytest.raises(HostError, match="no VM 'nobody'"):
                    await hvs.migrate("nobody", "hv-b")
                with pytest.raises(HostError, match="no hypervisor 'mars'"):
                    await hvs.migrate("web", "mars")
            finally:
                dom.destroy()
                dom.undefine()
        async with Hypervisors(c, {"hv-a": TEST}) as only_a:
            with pytest.raises(HypervisorError, match="hv-b is not reached through libvirt"):
                await only_a.migrate("web", "hv-b")
        assert len(c.core.migrations) == 0

    run(body)


def test_hypervisor_uris_and_domain_macs() -> None:
    names = {"hv-a", "hv-b"}
    assert parse_uris(["hv-a=qemu:///system", "hv-b=qemu+ssh://b/system"], names,
                      "--libvirt") == {"hv-a": "qemu:///system", "hv-b": "qemu+ssh://b/system"}
    for bad, message in [(["hv-a"], "give HYPERVISOR=URI"), (["mars=test:///"], "no hypervisor "
                         "'mars'"), (["hv-a=x", "hv-a=y"], "hv-a given twice")]:
        with pytest.raises(HypervisorError, match=message):
            parse_uris(bad, names, "--libvirt")
    xml = DOMAIN.format(name="d", uuid=uuid.uuid4(), mac="52:54:00:AA:00:01")
    assert domain_macs(xml) == ["52:54:00:aa:00:01"]
    assert domain_macs("<domain/>") == [] and domain_macs("not xml") == []


def test_an_unreachable_libvirt_is_a_clear_error() -> None:
    async def body() -> None:
        hvs = Hypervisors(FakeController(), {"hv-a": "qemu+unix:///session?socket=/nonexistent"})
        with pytest.raises(Exception, match="hv-a: cannot connect to libvirt"):
            async with hvs:
                pass
        assert hvs.monitors == {}

    run(body)


def test_the_api_has_libvirt_migrate_and_says_why_it_did_not(schema: P4Schema) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from ctrl.northbound.api import make_app

    async def body() -> None:
        c = Controller(parse_topology(TOPO), schema, b"{}")
        async with Hypervisors(c, {"hv-a": TEST, "hv-b": TEST}) as hvs:
            dom = define(hvs.monitors["hv-a"].conn, "web")
            dom.create()
            try:
                async with TestClient(TestServer(make_app(c, hvs))) as client:
                    r = await client.post("/api/v1/migrate", json={
                        "vm": "web", "to": "hv-b", "libvirt": True})
                    assert r.status == 409
                    assert "it stays at hv-a" in (await r.json())["error"]
                    r = await client.post("/api/v1/migrate", json={
                        "vm": "web", "to": "mars", "libvirt": True})
                    assert r.status == 404
            finally:
                dom.destroy()
                dom.undefine()
        assert len(c.core.migrations) == 0 and c.core.migrations.provisioned() == {}

    run(body)
