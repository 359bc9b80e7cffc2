"""libvirt domain events as the tests collect them, and a domain's round trip through
every lifecycle state."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ctrl.vm.libvirt_events import DomainEvent, Lifecycle, MigrationEvent


class Seen:
    """Events collected on the event loop's thread, waited for on the test's."""

    def __init__(self) -> None:
        self.raw: list[DomainEvent] = []
        self.moves: list[MigrationEvent] = []
        self.cond = threading.Condition()

    def event(self, ev: DomainEvent) -> None:
        with self.cond:
            self.raw.append(ev)
            self.cond.notify_all()

    def move(self, ev: MigrationEvent) -> None:
        with self.cond:
            self.moves.append(ev)
            self.cond.notify_all()

    def wait(self, done: Callable[[], bool], timeout: float = 10.0) -> bool:
        with self.cond:
            return self.cond.wait_for(done, timeout)


ROUND_TRIP = [Lifecycle.DEFINED, Lifecycle.STARTED, Lifecycle.SUSPENDED, Lifecycle.RESUMED,
              Lifecycle.STOPPED, Lifecycle.UNDEFINED]


def round_trip(dom: Any, running: Callable[[], object] = lambda: None) -> None:
    """Start a defined domain, wait for `running`, suspend, resume, destroy and undefine
    it: ROUND_TRIP's events."""
    dom.create()
    running()
    dom.suspend()
    dom.resume()
    dom.destroy()
    dom.undefine()
