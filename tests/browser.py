"""Headless Chromium for the web view's tests: Debian's `chromium` driven through
`chromium-driver` by selenium, or the reason a test is skipped.

Chromium starts with a fresh profile of its own and without its background services
(they would flood the closed network with refused connections)."""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = "chromium"
DRIVER = "chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-default-apps", "--disable-extensions", "--window-size=1500,1100")


def missing() -> str | None:
    """Why a browser test cannot run here, or None."""
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[test]')"
    for tool, package in ((CHROMIUM, "chromium"), (DRIVER, "chromium-driver")):
        if shutil.which(tool) is None:
            return f"no {tool} on PATH (apt-get install {package})"
    return None


@contextlib.contextmanager
def chromium(out: Path) -> Iterator[Any]:
    """A selenium WebDriver on headless Chromium; its profile and chromedriver's log in
    `out`; quit on the way out."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(shutil.which(CHROMIUM))
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={out / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(shutil.which(DRIVER)),
                      log_output=str(out / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


def console(driver: Any) -> list[dict[str, Any]]:
    """What the page wrote to its console since the last call."""
    entries: list[dict[str, Any]] = driver.get_log("browser")
    return entries


def errors(entries: list[dict[str, Any]]) -> list[str]:
    return [str(e["message"]) for e in entries if e.get("level") == "SEVERE"]
