"""A controller of an HA pair: the elector's changes of role told to every switch, and the
pair's health as checked.

Primary means both: this controller holds the leader key under a live lease, AND every
switch answered its last arbitration naming it primary. A leader that some switch has not
confirmed is reported as such ("leader, not yet primary on s2"), never as primary.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ctrl.control.runner import Controller
from ctrl.errors import MobilityError
from ctrl.ha.election import Elector
from ctrl.ha.shared import SharedState
from ctrl.ha.standing import Standing

log = logging.getLogger(__name__)


def attach(controller: Controller, elector: Elector, shared: SharedState | None = None
           ) -> None:
    """Each change of role or term re-arbitrates every open switch stream at once; made
    leader, the core first takes the shared state's hot copy, and writes its own after.
    A migration step through the API answers once its record is in the shared state."""

    async def changed(s: Standing) -> None:
        eid = s.election_id
        if shared is not None and s.is_leader:
            shared.take_over()
        log.warning("%s: %s (%s): election id %s on every switch", elector.name,
                    s.role.value, s.note, eid)
        results = await asyncio.gather(
            *(sess.set_election_id(eid) for sess in controller.sessions.values()),
            return_exceptions=True)
        for name, r in zip(controller.sessions, results, strict=True):
            if isinstance(r, BaseException):
                if not isinstance(r, MobilityError):
                    raise r
                log.warning("%s: re-arbitration with %s: %s", name, eid, r)
        if shared is not None and s.is_leader:
            try:
                await shared.snapshot()
            except MobilityError as exc:
                log.warning("%s: shared state not written: %s", elector.name, exc)

    elector.on_change = changed
    if shared is not None:
        controller.journaled = shared.journaled


@dataclass(frozen=True, slots=True)
class HaStatus:
    name: str
    role: str                 # leader, standby, no-lease
    primary: bool             # leader with a live lease AND primary on every switch
    lease_held: bool
    etcd_reachable: bool
    term: int
    election_id: tuple[int, int]
    leader: str
    primary_on: tuple[str, ...]      # switches that named this controller primary
    not_primary_on: tuple[str, ...]
    note: str
    elected: int
    stepped_down: int

    def as_json(self) -> dict[str, Any]:
        out = {f: getattr(self, f) for f in self.__slots__}
        out["election_id"] = list(self.election_id)
        out["primary_on"], out["not_primary_on"] = list(self.primary_on), list(
            self.not_primary_on)
        return out


def status(controller: Controller, elector: Elector) -> HaStatus:
    s = elector.standing
    held = s.lease_held(elector.clock())
    states = {n: sess.status() for n, sess in controller.sessions.items()}
    on = tuple(sorted(n for n, st in states.items() if st.primary))
    off = tuple(sorted(n for n in states if n not in on))
    leading = s.is_leader and held
    note = s.note
    if leading and off:
        note = f"leader, not yet primary on {', '.join(off)}"
    return HaStatus(elector.name, s.role.value, leading and not off, held,
                    elector.etcd_reachable, s.term, s.election_id, s.leader, on, off, note,
                    s.elected, s.stepped_down)


class HaCollector(Collector):
    def __init__(self, controller: Controller, elector: Elector) -> None:
        self.c, self.e = controller, elector

    def collect(self) -> Iterator[Any]:
        st = status(self.c, self.e)
        yield GaugeMetricFamily("mobility_ha_primary", "1 while this controller leads under "
                                "a live lease and every switch answered it primary",
                                value=float(st.primary))
        yield GaugeMetricFamily("mobility_ha_leader", "1 while it holds the leader key under "
                                "a live lease", value=float(st.role == "leader" and st.lease_held))
        yield GaugeMetricFamily("mobility_ha_lease_held", "1 while it holds a live etcd lease",
                                value=float(st.lease_held))
        yield GaugeMetricFamily("mobility_ha_etcd_reachable", "1 when etcd answered the last "
                                "round", value=float(st.etcd_reachable))
        yield GaugeMetricFamily("mobility_ha_term", "the leader's term (0: not leading)",
                                value=st.term)
        yield GaugeMetricFamily("mobility_ha_elected", "times elected", value=st.elected)
        yield GaugeMetricFamily("mobility_ha_stepped_down", "times stepped down",
                                value=st.stepped_down)
