"""The web view in a real browser (headless Chromium) on a real lab (cloud-rack on the
Open vSwitch target): it draws the lab's switches, hypervisors, VMs and client; traffic
from the switches' counters; a migration made with `ctrl lab migrate` (in this process,
then as the command line) shows within 1 s, a GRE tunnel with the one across the WAN;
the path from the VM to its client; no console errors. The screenshot is kept in the
test's own directory (tmp_path/webview-lab.png; the path is printed)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ctrl.lab import build
from ctrl.lab.demo import endpoints, migrate_apart
from ctrl.lab.migrate import migrate
from ctrl.lab.probe import Probe, ProbeOptions
from ctrl.lab.spec import LabSpec
from ctrl.lab.state import LabState
from tests import browser
from tests.lab.labs import left_behind, new_state
from tests.packet.ovs_target import ovs_available

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and veth pairs"),
    pytest.mark.skipif(ovs_available() is not None, reason=str(ovs_available())),
    pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing())),
]

WAIT = 20.0    # for what has no bound of its own (drawing, traffic): a loaded machine
SHOWN = 1.0    # a migration shows in the page within this long after `lab migrate` returns


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[LabState, LabSpec]]:
    state = new_state(tmp_path, "cloud-rack", "wv")
    spec = build.up(state)
    try:
        yield state, spec
    finally:
        build.down(state)
        assert left_behind(spec, state) == []


def wait_for(driver: Any, script: str, what: str, timeout: float = WAIT) -> float:
    """When (time.monotonic()) the page first showed it, checked every 10 ms."""
    deadline = time.monotonic() + timeout
    while not driver.execute_script(script):
        if time.monotonic() > deadline:
            raise AssertionError(f"the page did not show {what} within {timeout:g} s")
        time.sleep(0.01)
    return time.monotonic()


def at(vm: str, hypervisor: str) -> str:
    return (f"return document.querySelector('#map g.host[data-host=\"{vm}\"]')?.dataset.at"
            f" === '{hypervisor}'")


def test_the_page_follows_the_lab_live(lab: tuple[LabState, LabSpec], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    state, spec = lab
    with browser.chromium(tmp_path) as driver:
        driver.get(f"http://{state.api}/")
        wait_for(driver, "return document.getElementById('status').textContent === 'live'",
                 "a live feed")
        wait_for(driver, "return document.querySelectorAll('#map g.switch.ok').length === 3",
                 "three switches in sync")
        wait_for(driver, at("vm1", "server1") + " && " + at("vm2", "server2")[7:] + " && "
                 + at("user", "desk")[7:], "every host where the lab put it")
        drawn = driver.execute_script(
            "return [[...document.querySelectorAll('#map g.switch')].map(g => g.dataset.switch)"
            ".sort(), [...document.querySelectorAll('#map g.hypervisor')].map(g => "
            "g.dataset.hypervisor).sort()]")
        assert drawn == [["a1", "a2", "b1"], ["desk", "server1", "server2", "server3"]]

        # Traffic through a1-a2 (user at a1, vm2 at a2): the counters say so, both ways.
        a, b = endpoints(spec)
        probe = Probe(a, b, ProbeOptions(udp_rate=500, tcp_rate=0))
        done = threading.Event()
        runner = threading.Thread(target=probe.run, kwargs={"until": done})
        runner.start()
        try:
            wait_for(driver, "const t = document.querySelector('#map g.link text.rate')"
                     "?.textContent ?? ''; const [x, y] = t.split(' / ').map(Number);"
                     " return x > 0 && y > 0", "traffic both ways on a1-a2")
        finally:
            done.set()
            runner.join(30)

        # A migration within campus A, in this process.
        migrate(state, "vm2", "server1")
        returned = time.monotonic()
        shown = wait_for(driver, at("vm2", "server1"), "vm2 at server1", SHOWN)
        print(f"vm2 at server1 in the page {(shown - returned) * 1e3:.0f} ms after "
              "`lab migrate` returned")
        # Across the WAN, as the command line.
        migrate_apart(state, "vm2", "server3", announce=True)
        returned = time.monotonic()
        shown = wait_for(driver, at("vm2", "server3"), "vm2 at server3", SHOWN)
        print(f"vm2 at server3 in the page {(shown - returned) * 1e3:.0f} ms after "
              "`ctrl lab migrate` (its process) ended")
        wait_for(driver, "return document.querySelectorAll('#map g.tunnel').length === 1",
                 "the GRE tunnel between the campuses")
        wait_for(driver, "const rows = [...document.querySelectorAll('#migration-table tbody"
                 " tr')].filter(r => r.dataset.vm === 'vm2'); return rows.length === 2 && "
                 "rows.every(r => r.cells[5].textContent === 'done' && "
                 "r.cells[8].textContent.includes('ms'))",
                 "both migrations done, with their writes' time")

        # vm2's path to its client: through the tunnel.
        driver.find_element(By.CSS_SELECTOR, '#map g.host[data-host="vm2"]').click()
        Select(driver.find_element(By.ID, "peer")).select_by_visible_text("user (client)")
        wait_for(driver, "return document.getElementById('path-info').textContent"
                 ".includes('GRE tunnel b1 -> a1')", "the path through the tunnel")
        shot = tmp_path / "webview-lab.png"
        assert driver.save_screenshot(str(shot))
        print(f"screenshot: {shot}")
        assert browser.errors(browser.console(driver)) == []
