"""The engine's migration carried out by libvirt (root, QEMU, two private libvirtds): the
placement service decides, the libvirt actuator readies the network (an announced
migration with cause "placement"), libvirt live-migrates the guest, the engine hears it
went well. The lab's actuator is tested live in test_service_live.py."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from ctrl.control.runner import Controller
from ctrl.control.topology import PortRef, parse_topology
from ctrl.northbound.hypervisors import Hypervisors
from ctrl.p4rt.schema import P4Schema
from ctrl.placement.actuate import LibvirtActuator
from ctrl.placement.engine import PlacementEngine, Verdict
from ctrl.placement.manager import Policy
from ctrl.placement.service import PlacementService, targets_of
from ctrl.vm.domain import domain_xml
from ctrl.vm.image import GuestImage
from ctrl.vm.libvirtd import SessionLibvirtd
from ctrl.vm.qemu import QEMU, GuestSpec
from tests.northbound.domains import topology
from tests.placement.plugins import First
from tests.vm import vmlab
from tests.vm.guests import _skip_reason, wait_console

pytestmark = [
    pytest.mark.root,
    pytest.mark.qemu,
    pytest.mark.libvirt,
    pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason())),
]

SPEC = GuestSpec("lv-placed-3", "52:54:00:98:00:1c", "10.98.0.13")


def test_the_engine_has_libvirt_migrate_the_guest(
        daemons: tuple[SessionLibvirtd, SessionLibvirtd], schema: P4Schema) -> None:
    image: GuestImage = vmlab.guest_image()
    a, b = daemons

    async def body() -> None:
        c = Controller(parse_topology(topology(SPEC.mac, SPEC.ip)), schema, b"{}")
        uris = {"hv-a": a.uri, "hv-b": b.uri}
        async with Hypervisors(c, uris, {"hv-b": f"unix://{b.home}/migrate.sock"}) as hvs:
            xml = domain_xml(SPEC, image, shutil.which(QEMU) or QEMU,
                             a.home / "console.log", user_nic=True)
            await asyncio.to_thread(hvs.monitors["hv-a"].conn.createXML, xml, 0)
            assert await asyncio.to_thread(wait_console, a.home / "console.log")
            engine = PlacementEngine([First()], targets_of(c))
            service = PlacementService(c, engine, LibvirtActuator(hvs))
            service.set_policy("web", Policy("first", {"dwell": 0.0}, ("hv-b",)))
            got = await service.round()
            assert [(d.vm, d.verdict, d.to) for d in got] == [("web", Verdict.MIGRATE,
                                                               "hv-b")]
            await asyncio.wait_for(asyncio.gather(*service._tasks.values()), 120)
            assert engine.counters.succeeded == 1, service.outcomes
            outcome = service.outcomes[-1]
            assert outcome["ok"] and "libvirt migrated web" in str(outcome["why"])
            m = c.migration("web")
            assert m is not None and m.cause == "placement"
            assert c.find("web").location == PortRef("s1", 2)   # switched over in its pause
            moved = hvs.monitors["hv-b"].conn.lookupByName(SPEC.name)
            assert moved.isActive()
            await asyncio.to_thread(moved.destroy)

    asyncio.run(body())
