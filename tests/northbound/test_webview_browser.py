"""The web view in a real browser (headless Chromium) against a running controller whose
API wants a token (its switches unreachable: no lab needed): the page draws the
topology and the hosts, shows a path across sites, asks for the token before its first
change and again when it is refused, and a migration it asks for shows in its timeline.
The lab's own browser test (tests/lab/test_webview_lab.py) moves VMs for real."""

from __future__ import annotations

import asyncio
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ctrl.control.notices import Notice, PlacementNotice
from ctrl.control.runner import Controller
from ctrl.control.topology import parse_topology
from ctrl.northbound.api import make_app
from ctrl.northbound.auth import ApiAuth
from ctrl.p4rt.schema import P4Schema
from ctrl.targets.bmv2 import free_tcp_port
from tests import browser
from tests.topologies import TOPO, VMS

pytestmark = pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))

TOKEN = "sixteen-or-more-characters"
VM3 = '  vm3: {vnet: blue, mac: "02:00:00:00:01:03", ip: 10.0.3.1, hypervisor: h3}\n'
WAIT = 15.0   # seconds a page may take to show what the test waits for (a loaded machine)


class Served:
    """A controller and its API (with the web view) on a loop of their own, in a thread."""

    def __init__(self, schema: P4Schema) -> None:
        self.schema = schema
        self.port = free_tcp_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready = threading.Event()
        self.failed: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.controller: Controller | None = None
        self.stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, name="served", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self.failed = exc
            self.ready.set()

    async def _main(self) -> None:
        self.loop, self.stop = asyncio.get_running_loop(), asyncio.Event()
        controller = Controller(parse_topology(TOPO + VMS + VM3), self.schema, b"{}")
        self.controller = controller
        runner = web.AppRunner(make_app(controller, auth=ApiAuth(TOKEN)))
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self.ready.set()
            await controller.run(self.stop)
        finally:
            await runner.cleanup()

    def __enter__(self) -> Served:
        self.thread.start()
        self.ready.wait(30)
        if self.failed is not None:
            raise self.failed
        return self

    def __exit__(self, *exc: object) -> None:
        if self.loop is not None and self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(20)
        assert not self.thread.is_alive(), "the controller did not stop"


@pytest.fixture
def served(schema: P4Schema) -> Iterator[Served]:
    with Served(schema) as s:
        yield s


def js(driver: Any, script: str) -> Any:
    return driver.execute_script(script)


def wait_for(driver: Any, script: str, what: str) -> Any:
    from selenium.webdriver.support.wait import WebDriverWait

    return WebDriverWait(driver, WAIT, poll_frequency=0.05).until(
        lambda d: d.execute_script(script), message=f"the page did not show {what}")


def test_the_page_draws_asks_for_the_token_and_shows_the_migration(
        served: Served, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    with browser.chromium(tmp_path) as driver:
        driver.get(served.url + "/")
        wait_for(driver, "return document.getElementById('status').textContent === 'live'",
                 "a live feed")
        wait_for(driver, "return document.querySelectorAll('#map g.host').length === 3",
                 "three VMs")
        switches = js(driver, "return [...document.querySelectorAll('#map g.switch')]"
                              ".map(g => g.dataset.switch)")
        assert sorted(switches) == ["s1", "s2", "s3", "s4"]
        hosts = js(driver, "return Object.fromEntries([...document.querySelectorAll("
                           "'#map g.host')].map(g => [g.dataset.host, g.dataset.at]))")
        assert hosts == {"vm1": "h1", "vm2": "h2", "vm3": "h3"}
        assert js(driver, "return document.querySelectorAll('#map .site').length") == 2

        # vm1 to vm3: across the sites, through the GRE tunnel of their gateways
        driver.find_element(By.CSS_SELECTOR, '#map g.host[data-host="vm1"]').click()
        Select(driver.find_element(By.ID, "peer")).select_by_visible_text("vm3 (vm)")
        wait_for(driver, "return document.getElementById('path-info').textContent"
                         ".includes('GRE tunnel s1 -> s3')", "the path across sites")
        assert "s1 -> s3" in driver.find_element(By.ID, "path-info").text
        assert js(driver, "return document.querySelectorAll('#map path.route').length") == 1

        # A placement decision (the engine's notice, as ctrl/placement publishes it): in the
        # event log, and beside the selected VM.
        notices: list[Notice] = [PlacementNotice("vm1", "decision", "wait", "h1", "h3",
                                                 "dwell: 3.0 s to go", 1.0)]
        assert served.loop is not None and served.controller is not None
        served.loop.call_soon_threadsafe(served.controller.feed.publish, notices)
        wait_for(driver, "return document.getElementById('sel-placement').textContent"
                         ".includes('placement: wait -> h3 (dwell: 3.0 s to go)')",
                 "the selected VM's placement decision")
        assert "placement vm1: decision wait h1 -> h3" in driver.find_element(By.ID, "log").text

        # A change: the token is asked for first (the controller wants one).
        Select(driver.find_element(By.ID, "mig-vm")).select_by_visible_text("vm2")
        Select(driver.find_element(By.ID, "mig-to")).select_by_value("h4")
        driver.find_element(By.ID, "mig-go").click()
        wait_for(driver, "return document.getElementById('token-dialog').open",
                 "the token dialog")
        driver.find_element(By.ID, "token-input").send_keys(TOKEN)
        driver.find_element(By.ID, "token-ok").click()
        wait_for(driver, "return document.getElementById('mig-result').textContent"
                         ".includes('expecting the VM')", "the controller's answer")
        assert js(driver, "return sessionStorage.getItem('vm-mobility-api-token')") == TOKEN
        wait_for(driver, "return [...document.querySelectorAll('#migration-table tbody tr')]"
                         ".some(r => r.dataset.vm === 'vm2' && r.textContent.includes("
                         "'announced'))", "the migration announced")
        wait_for(driver, "return document.querySelector('#timeline g.move[data-vm=\"vm2\"]')",
                 "the migration on the timeline")
        assert browser.errors(browser.console(driver)) == []

        # A token the controller refuses: asked again, then the right one works.
        js(driver, "sessionStorage.setItem('vm-mobility-api-token', 'not-the-right-token!')")
        Select(driver.find_element(By.ID, "mig-to")).select_by_value("h1")
        driver.find_element(By.ID, "mig-go").click()
        wait_for(driver, "return document.getElementById('token-dialog').open &&"
                         " document.getElementById('token-why').textContent.includes('401')",
                 "the token asked for again")
        driver.find_element(By.ID, "token-input").send_keys(TOKEN)
        driver.find_element(By.ID, "token-ok").click()
        wait_for(driver, "return [...document.querySelectorAll('#migration-table tbody tr')]"
                         ".some(r => r.textContent.includes('cancelled'))",
                 "the first migration cancelled by the second announcement")
        refused = browser.errors(browser.console(driver))
        assert len(refused) == 1 and "401" in refused[0], refused   # the refused one only

        # Cancelled through the API by someone else: the page shows it.
        req = urllib.request.Request(served.url + "/api/v1/migrate/vm2", method="DELETE",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
        wait_for(driver, "return [...document.querySelectorAll('#migration-table tbody tr')]"
                         ".filter(r => r.textContent.includes('cancelled')).length === 2",
                 "the second migration cancelled")
        shot = tmp_path / "webview-token.png"
        assert driver.save_screenshot(str(shot))
        print(f"screenshot: {shot}")
        assert browser.errors(browser.console(driver)) == []
