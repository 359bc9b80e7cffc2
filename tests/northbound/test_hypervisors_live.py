"""The controller and two real libvirtds (QEMU driver, TCG, private session daemons, one
per hypervisor): a guest that libvirt live-migrates is announced by the controller
before the migration ends (its domain found by its NIC's MAC) and switched over when
its source pauses, and `ctrl migrate --libvirt` readies the network, then has libvirt
migrate it. Skipped, with the
reason, where root, libvirt-python, libvirtd or QEMU is missing."""

from __future__ import annotations

import asyncio
import shutil
import time
from typing import Any

import pytest

from ctrl.control.migrations import Phase
from ctrl.control.runner import Controller
from ctrl.control.topology import PortRef, parse_topology
from ctrl.northbound.hypervisors import Hypervisors
from ctrl.p4rt.schema import P4Schema
from ctrl.vm.domain import domain_xml
from ctrl.vm.image import GuestImage
from ctrl.vm.libvirtd import SessionLibvirtd
from ctrl.vm.qemu import QEMU, GuestSpec
from tests.northbound.domains import topology
from tests.vm import vmlab
from tests.vm.guests import _skip_reason, wait_console
from tests.waiting import until

pytestmark = [
    pytest.mark.root,
    pytest.mark.qemu,
    pytest.mark.libvirt,
    pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason())),
]

# The domain's name is not the VM's: the controller finds it by its NIC's MAC.
SPEC = GuestSpec("lv-guest-7", "52:54:00:98:00:0c", "10.98.0.12")
TOPO = topology(SPEC.mac, SPEC.ip)
AT_B = PortRef("s1", 2)


@pytest.fixture(scope="module")
def image() -> GuestImage:
    return vmlab.guest_image()


async def boot(hvs: Hypervisors, image: GuestImage, at: SessionLibvirtd) -> Any:
    """The guest, booted by hv-a's libvirtd (`at`), its NIC on QEMU's user network."""
    xml = domain_xml(SPEC, image, shutil.which(QEMU) or QEMU, at.home / "console.log",
                     user_nic=True)
    dom = await asyncio.to_thread(hvs.monitors["hv-a"].conn.createXML, xml, 0)
    assert await asyncio.to_thread(wait_console, at.home / "console.log"), \
        "the guest's /init never said ready"
    return dom





def switched(c: Controller) -> bool:
    """web's migration is switched over (its RARP would make it done: no switch here)."""
    m = c.migration("web")
    return m is not None and m.phase is Phase.SWITCHED

def test_a_guest_libvirt_migrates_is_announced_before_it_lands(
        image: GuestImage, daemons: tuple[SessionLibvirtd, SessionLibvirtd],
        schema: P4Schema) -> None:
    import libvirt
    a, b = daemons

    async def body() -> None:
        c = Controller(parse_topology(TOPO), schema, b"{}")
        web = c.find("web")
        async with Hypervisors(c, {"hv-a": a.uri, "hv-b": b.uri}) as hvs:
            dom = await boot(hvs, image, a)
            params = {libvirt.VIR_MIGRATE_PARAM_URI: f"unix://{b.home}/migrate.sock"}
            # An operator's `virsh migrate`: the controller hears of it from libvirt alone.
            moving = asyncio.create_task(asyncio.to_thread(
                dom.migrate3, hvs.monitors["hv-b"].conn, params, libvirt.VIR_MIGRATE_LIVE))
            announced = await until(lambda: c.migration("web") is not None, 60)
            moved = await moving
            landed = time.monotonic()
            assert announced is not None and announced < landed
            # The source paused for the last copy: delivered at hv-b from then on.
            assert await until(lambda: web.location == AT_B, 10)
            assert switched(c)
            assert moved.isActive()
            await asyncio.to_thread(moved.destroy)
        assert [(type(act).__name__, act.vm, err) for _, act, err in hvs.applied] == [
            ("Announce", "web", None), ("SwitchOver", "web", None)]

    asyncio.run(body())


def test_ctrl_migrate_by_libvirt_readies_the_network_then_migrates(
        image: GuestImage, daemons: tuple[SessionLibvirtd, SessionLibvirtd],
        schema: P4Schema) -> None:
    a, b = daemons

    async def body() -> None:
        c = Controller(parse_topology(TOPO), schema, b"{}")
        web = c.find("web")
        uris = {"hv-a": a.uri, "hv-b": b.uri}
        async with Hypervisors(c, uris, {"hv-b": f"unix://{b.home}/migrate.sock"}) as hvs:
            await boot(hvs, image, a)
            done = await hvs.migrate("web", "hv-b")
            print(f"libvirt: downtime {done.downtime_ms} ms, total {done.total_ms} ms")
            assert (done.vm, done.src, done.dst, done.domain) == ("web", "hv-a", "hv-b",
                                                                   SPEC.name)
            assert done.downtime_ms is not None and done.total_ms is not None
            moved = hvs.monitors["hv-b"].conn.lookupByName(SPEC.name)
            assert moved.isActive()
            # libvirt's own events came too: incoming (announced already: nothing new),
            # then the source's pause, when the controller switched it over.
            assert await until(lambda: len(hvs.applied) >= 2, 10)
            assert web.location == AT_B and switched(c)
            await asyncio.to_thread(moved.destroy)
        assert [type(act).__name__ for _, act, _ in hvs.applied] == ["Announce", "SwitchOver"]

    asyncio.run(body())
