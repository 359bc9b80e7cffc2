"""What every kind of lab migration shares: its record, the checks before it, and telling
the lab's controller (announce first, cancel when it does not happen).

A VM in a namespace moves by an interface swap (ctrl/lab/migrate.py); a QEMU guest
by a live migration (ctrl/lab/guests.py). Either way the result is a `Migration`.
"""

from __future__ import annotations

import contextlib
import logging
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from ctrl.lab.spec import HostNet, LabError, LabSpec
from ctrl.lab.state import LabState
from ctrl.northbound.client import ApiError, PreparedCall, call

log = logging.getLogger(__name__)

ANNOUNCE_AGAIN = (0.05, 0.15)   # QEMU repeats its announcement; seconds after the first
# A pair's standby is primary about 1.4 s after the primary died (lease 1 s, then its
# campaign): a migration announced meanwhile waits this long for it.
FAILOVER_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class Migration:
    host: str
    src: str
    dst: str
    announced: bool
    asked: float      # time.monotonic() of each step
    paused: float
    resumed: float
    qemu_downtime_ms: float | None = None   # QEMU's own figure (a QEMU guest only)
    qemu_total_ms: float | None = None
    cause: str = "operator"                 # who asked: operator, placement (the engine)

    @property
    def downtime(self) -> float:
        """The VM's own pause, seconds: old interface down to RARP sent (a namespace), the
        source's STOP to the destination's RESUME (a QEMU guest)."""
        return self.resumed - self.paused

    @property
    def guest(self) -> bool:
        return self.qemu_downtime_ms is not None

    def to_json(self) -> dict[str, object]:
        return {"event": "migration", **asdict(self)}

    @classmethod
    def from_json(cls, d: dict[str, object]) -> Migration:
        def num(key: str) -> float | None:
            value = d.get(key)
            return None if value is None else float(str(value))

        return cls(str(d["host"]), str(d["src"]), str(d["dst"]), bool(d["announced"]),
                   float(str(d["asked"])), float(str(d["paused"])), float(str(d["resumed"])),
                   num("qemu_downtime_ms"), num("qemu_total_ms"),
                   str(d.get("cause", "operator")))


def controller_call(api: str, path: str, body: dict[str, str] | None = None,
                    method: str = "GET") -> object:
    try:
        return call(api, path, body, method)
    except ApiError as exc:
        raise LabError(f"the lab's controller: {exc}") from None


def primary_api(state: LabState, wait: float = 0.0) -> str:
    """The API of the controller that is primary now: the one controller, or, of a pair,
    the one that says it is (`GET /api/v1/ha`: a lease held, primary on every switch). A
    standby's API would take a migration it cannot write. `wait`: seconds to wait for one
    (a failover under way) before saying there is none."""
    if state.controllers <= 1:
        return state.api
    deadline = time.monotonic() + wait
    while True:
        said = []
        for api in [state.api, *state.apis]:
            try:
                ha = call(api, "ha", timeout=2)
            except ApiError as exc:
                said.append(f"{api}: {exc}")
                continue
            if isinstance(ha, dict) and ha.get("primary"):
                return api
            said.append(f"{api}: {ha.get('role') if isinstance(ha, dict) else ha!r}")
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    waited = f" after {wait:g} s" if wait else ""
    raise LabError(f"no controller of the lab is primary{waited} (" + "; ".join(said) + ")")


def check_move(spec: LabSpec, state: LabState, host: HostNet, to: str) -> str:
    """Where `host` is now; a LabError when it cannot go to `to`."""
    spec.hypervisor(to)
    src = state.locations.get(host.name, host.hypervisor)
    if src == to:
        raise LabError(f"{host.name} is at {to} already")
    for other, peer in (*spec.hosts.items(), *spec.light.items()):
        at = state.locations.get(other, peer.hypervisor)
        if at == to and peer.vnet != host.vnet:
            raise LabError(f"{to} hosts {other} of virtual network {peer.vnet}; its port "
                           f"cannot carry {host.name}'s network {host.vnet} too")
    return src


def announce(state: LabState, name: str, to: str, cause: str = "operator") -> None:
    """`POST /api/v1/migrate`: the controller readies `to` and delivers at both places;
    `cause` says who asked (the placement engine's moves say "placement"). Of a pair, the
    primary, waited for while a failover is under way."""
    controller_call(primary_api(state, FAILOVER_WAIT_S), "migrate",
                    {"vm": name, "to": to, "cause": cause}, "POST")


def _switch_path(name: str) -> str:
    return "migrate/" + urllib.parse.quote(name) + "/switch"


def switch(state: LabState, name: str) -> None:
    """`POST /api/v1/migrate/NAME/switch`: it has stopped at its source; from now on it is
    delivered at the new place only (quietly: the RARP there does it otherwise)."""
    try:
        controller_call(primary_api(state), _switch_path(name), None, "POST")
    except LabError as exc:
        log.warning("%s: no early switch-over: %s", name, exc)


class SwitchOver:
    """`switch` in two halves, its connection made beforehand: `send()`, in the VM's
    pause, is one write to a connected socket; `done()`, once the VM runs again, reads
    the answer. A failure is a warning, as for `switch`."""

    def __init__(self, state: LabState, name: str) -> None:
        self.name = name
        self._call: PreparedCall | None = None
        try:
            self._call = PreparedCall(primary_api(state), _switch_path(name), None, "POST")
        except ApiError as exc:
            self._failed(exc)

    def _failed(self, exc: ApiError) -> None:
        log.warning("%s: no early switch-over: the lab's controller: %s", self.name, exc)
        if self._call is not None:
            self._call.close()
        self._call = None

    def send(self) -> None:
        if self._call is not None:
            try:
                self._call.send()
            except ApiError as exc:
                self._failed(exc)

    def done(self) -> None:
        if self._call is not None:
            try:
                self._call.answer()
            except ApiError as exc:
                self._failed(exc)
            self._call = None


def cancel(state: LabState, name: str) -> None:
    """`DELETE /api/v1/migrate/NAME`: back to one location (quietly, on a failure path)."""
    with contextlib.suppress(LabError):
        controller_call(primary_api(state), "migrate/" + urllib.parse.quote(name), None, "DELETE")


def record(state: LabState, done: Migration) -> None:
    """The VM is at its new place: in the state, and as an event for a probe to mark."""
    state.locations[done.host] = done.dst
    state.save()
    state.add_event(done.to_json())


def hold_placement(state: LabState, hosts: Iterable[str]) -> list[str]:
    """The placement engine leaves these VMs alone from now on (their policies taken
    away, `DELETE /api/v1/placement/VM`): a demo or chaos run that moves them by hand must
    not race the engine. The ones that had a policy."""
    held = []
    for name in sorted(set(hosts)):
        try:
            controller_call(primary_api(state), "placement/" + urllib.parse.quote(name),
                            None, "DELETE")
        except LabError:
            continue   # no policy (404), or a controller without the engine
        held.append(name)
    return held


def check_cause(cause: str) -> str:
    if not cause.replace("-", "").isalnum() or not cause[:1].isalpha() or len(cause) > 32:
        raise LabError(f"cause {cause!r}: a word of letters, digits and dashes")
    return cause
