"""ctrl.lab.htmlreport: one self-contained page per probe or demo."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

from ctrl.lab.htmlreport import Step, demo_page, probe_page
from ctrl.lab.plot import Window, png
from ctrl.lab.report import Arrival, Report, UdpTrace, build_report


class Parsed(HTMLParser):
    """Every tag opened, every attribute that names another resource, the text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [v or "" for k, v in attrs if k in ("src", "href")]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def report(lost: tuple[int, int] = (400, 420), late: tuple[int, int] = (700, 720)) -> Report:
    sends = [i / 1000 for i in range(1000)]
    arrived = [Arrival(i, t, t + 1e-4 + (0.02 if late[0] <= i < late[1] else 0))
               for i, t in enumerate(sends) if not lost[0] <= i < lost[1]]
    return build_report(a="user <b>", b="vm2", started="2026-01-01T00:00:00Z", duration_s=1.0,
                        udp=[UdpTrace("user -> vm2", 1000.0, sends, arrived)], tcp=[],
                        min_interruption_ms=2.0)


def parse(text: str) -> Parsed:
    p = Parsed()
    p.feed(text)
    return p


def test_a_probe_page_is_self_contained_and_tells_each_migration() -> None:
    r = report()
    step = Step(Window("vm2 -> server3", 0.4, 0.004, 0.35, 0.9),
                [("the VM's pause", "4.0 ms")])
    plot = png(r, "t", [step.window])
    page = probe_page("lab <x>: user <-> vm2", r, [step], plot)
    p = parse(page)
    # nothing fetched when opened: the one image is inline
    assert p.links and all(link.startswith("data:image/png;base64,") for link in p.links)
    assert base64.b64decode(p.links[0].split(",", 1)[1]) == plot
    text = " ".join(p.text)
    assert "lab <x>: user <-> vm2" in text and "user <b>" in text   # escaped, not markup
    assert "b" not in [t for t in p.tags if t not in ("body",)]
    assert "vm2 -> server3" in text and "the VM's pause" in text
    assert re.search(r"everything sent lost for", text)
    assert "20.0 ms at +0 ms" in text or "20.1 ms at +0 ms" in text   # the loss at the pause
    # the late datagrams at 0.7 s are in the window: the migration's, not unexplained
    assert "every gap of 10 ms or more came with a migration" in text


def test_gaps_no_migration_explains_are_listed_as_late() -> None:
    r = report(lost=(0, 0))
    text = " ".join(parse(probe_page("p", r, [], png(r))).text)
    assert "No migration during this probe." in text
    assert "late (no run of loss listed in it)" in text


def test_a_demo_page_has_the_table_and_the_verdict() -> None:
    r = report()
    rows = [("migration", "interruption"), ("across the WAN", "20.0 ms")]
    page = demo_page("cloud-rack demo", rows, ["a note"], r, r, [], png(r), ok=False)
    text = " ".join(parse(page).text)
    assert "across the WAN" in text and "a note" in text
    assert "Something was lost without migration, or TCP broke." in text
