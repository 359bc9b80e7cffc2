"""The placement engine in `ctrl serve`: a thin asyncio runner around the pure parts.

Every `interval` seconds, while some VM has a policy and this controller is primary:
one Read of the `bridging` table with its direct counters per switch, all switches at
once (no per-packet work: the switches count); the traffic meter turns the readings
into each VM's demand (ctrl/placement/traffic.py); the engine decides
(ctrl/placement/engine.py) over the fabric's distances (ctrl/placement/fabric.py); a
decision that changed is logged and published on the controller's feed (a `placement`
notice, for the web view and any subscriber), and a migration is handed to the actuator
(ctrl/placement/actuate.py) in a task of its own, its end reported back to the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from ctrl.control.notices import PlacementNotice
from ctrl.control.runner import Controller
from ctrl.control.topology import PortRef
from ctrl.errors import MobilityError
from ctrl.p4rt.values import int_to_mac, to_int
from ctrl.placement.actuate import Actuator
from ctrl.placement.engine import Decision, Placed, PlacementEngine, Target, Verdict, World
from ctrl.placement.fabric import Fabric
from ctrl.placement.manager import PlacementError, Policy
from ctrl.placement.policy import PolicyStore
from ctrl.placement.traffic import Count, HostKey, TrafficMeter, Wiring, counts_of

log = logging.getLogger(__name__)


def targets_of(controller: Controller) -> dict[str, Target]:
    topo = controller.topo
    return {h.name: Target(h.name, h.attach.switch, topo.switches[h.attach.switch].site,
                           h.max_vms, h.max_memory_mb)
            for h in topo.hypervisors.values()}


class PlacementService:
    def __init__(self, controller: Controller, engine: PlacementEngine,
                 actuator: Actuator | None, *, interval: float = 1.0,
                 smoothing: float = 3.0, store: PolicyStore | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        if not interval > 0:
            raise PlacementError(f"interval {interval}: seconds > 0")
        self.c = controller
        self.engine = engine
        self.actuator = actuator
        self.interval = interval
        self.store = store or PolicyStore(None)
        self.clock = clock or controller.clock
        topo = controller.topo
        self.meter = TrafficMeter(Wiring.of(topo, controller.planner.tunnels()), smoothing)
        self.fabric = Fabric(topo, controller.planner.links_down)
        self.names: dict[HostKey, str] = {
            (topo.vnets[h.vnet].id, to_int(h.mac)): h.name for h in topo.vms.values()}
        self.vms = {name: key for key, name in self.names.items()
                    if topo.vms[name].role == "vm"}
        self._hypervisor_at: dict[PortRef, str] = {
            h.attach: h.name for h in topo.hypervisors.values()}
        self.sources: dict[str, str] = {}              # vm -> where its policy came from
        self._since: dict[HostKey, float] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.outcomes: deque[dict[str, object]] = deque(maxlen=64)
        self.round_seconds: list[float] = []
        self.last_round: float | None = None
        self.note = "no VM has a placement policy"
        self._prepared = False

    # -- policies ---------------------------------------------------------------------

    def load(self, from_topology: Mapping[str, tuple[Policy, str]]) -> None:
        """The topology's policies (a bad one: PlacementError naming the file and line),
        then those the API set before a restart (a bad one is kept, its decisions say
        why: nothing an operator set is dropped)."""
        for vm, (policy, origin) in sorted(from_topology.items()):
            try:
                self.engine.set_policy(vm, policy, self.vms)
            except PlacementError as exc:
                raise PlacementError(f"{origin}: {exc}") from None
            self.sources[vm] = origin
        for vm, stored in sorted(self.store.load().items()):
            if stored is None:
                self.engine.set_policy(vm, None)
                self.sources[vm] = "off"
                continue
            try:
                self.engine.set_policy(vm, stored, self.vms)
            except PlacementError as exc:
                log.error("placement: the policy kept for %s cannot be used now: %s", vm, exc)
                self.engine.policies[vm] = stored
            self.sources[vm] = "api"

    def set_policy(self, vm: str, policy: Policy | None) -> None:
        """Through the API: checked first (nothing changes when refused), kept in the
        store when there is one."""
        if vm not in self.vms:
            raise PlacementError(f"no VM {vm!r} (VMs: {', '.join(sorted(self.vms))})")
        before = self.engine.policies.get(vm)
        self.engine.set_policy(vm, policy, self.vms)
        kept: dict[str, Policy | None] = {
            v: p for v, p in self.engine.policies.items() if self.sources.get(v) == "api"}
        kept.update({v: None for v, s in self.sources.items() if s == "off"})
        kept[vm] = policy
        try:
            self.store.save(kept)
        except PlacementError:   # as it was: not kept, not changed
            if before is None:
                self.engine.policies.pop(vm, None)
            else:
                self.engine.policies[vm] = before
            raise
        self.sources[vm] = "api" if policy is not None else "off"
        log.info("placement: %s %s", vm, f"follows {policy.name} {dict(policy.params)}"
                 if policy is not None else "has no policy any more")

    # -- the rounds -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval)
                if stop.is_set():
                    break
                try:
                    await self.round()
                except MobilityError as exc:   # e.g. a switch refused a Read: next round
                    log.warning("placement round: %s", exc)
                except Exception:   # a bug in a round must not end placement: logged
                    log.exception("placement round failed")
        finally:
            for task in self._tasks.values():
                task.cancel()
            for task in list(self._tasks.values()):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if self.actuator is not None:
                await self.actuator.aclose()

    async def round(self) -> list[Decision]:
        if not self.engine.policies:
            self.note = "no VM has a placement policy"
            return []
        if not self.c.may_write():
            self.note = "standby: the primary places VMs"
            return []
        await self._prepare()
        started = time.perf_counter()
        keys = {self.vms[vm] for vm in self.engine.policies if vm in self.vms}
        for key in keys:
            host = self.c.core.tracker.lookup(key)
            if host is not None and self._since.get(key) != host.since:
                self._since[key] = host.since
                self.meter.moved(key, host.since)
        reading = await self._read()
        now = self.clock()
        if not self.meter.observe(reading, now, keys):
            missing = sorted(set(self.c.topo.switches) - set(reading))
            self.note = f"counters not read from {', '.join(missing)}: demand as it was"
        else:
            self.note = ""
        if self.c.planner.links_down != self.fabric.down:
            self.fabric = Fabric(self.c.topo, self.c.planner.links_down)
        before = dict(self.engine.decisions)
        decisions = self.engine.decide(self.world(), now)
        for d in self.engine.changed(decisions, before):
            self._tell(d, "decision")
        for d in decisions:
            if d.verdict is Verdict.MIGRATE:
                self._start(d)
        self.last_round = now
        self.round_seconds.append(time.perf_counter() - started)
        del self.round_seconds[:-1000]
        return decisions

    async def _prepare(self) -> None:
        """The actuator readied once there is something to place and this controller is
        the primary (the lab's mover is a process: no controller starts one it does not
        need, none starts one while it is a standby)."""
        if self.actuator is None or self._prepared:
            return
        self._prepared = True
        try:
            await self.actuator.prepare()
        except MobilityError as exc:
            log.warning("placement: the %s actuator is not ready: %s", self.actuator.name,
                        exc)

    async def _read(self) -> dict[str, Mapping[HostKey, Count]]:
        """Every connected switch's bridging entries with their counters, all at once; a
        switch that is not connected, or whose Read fails, is left out."""
        names, reads = [], []
        for name, session in sorted(self.c.sessions.items()):
            client = session.client
            if client is not None and session.connected:
                names.append(name)
                reads.append(client.read_table("bridging", counters=True))
        results = await asyncio.gather(*reads, return_exceptions=True)
        out: dict[str, Mapping[HostKey, Count]] = {}
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                # Not read this time (a Read refused, the session closing): no interval.
                log.debug("%s: bridging counters not read: %r", name, result)
                continue
            out[name] = counts_of(result)
        return out

    def world(self) -> World:
        """What the engine needs of the controller this round."""
        attached: dict[str, list[str]] = {}
        placed: dict[str, Placed] = {}
        topo = self.c.topo
        for host in self.c.hosts():
            name = self.names.get(host.key) or int_to_mac(host.mac)
            attached.setdefault(host.location.switch, []).append(name)
            if name not in self.vms:
                continue
            m = self.c.core.migrations.get(host.key)
            flight = None if m is None or not m.phase.active \
                else self._hypervisor_at.get(m.dst, str(m.dst))
            watched = name in self.engine.policies
            placed[name] = Placed(name, self._hypervisor_at.get(host.location),
                                  host.location.switch, host.since, topo.vms[name].memory_mb,
                                  flight, self.meter.demand(host.key).smoothed if watched
                                  else {})
        return World(placed, {sw: tuple(sorted(h)) for sw, h in attached.items()},
                     self.fabric.links, self.fabric.best)

    # -- migrations -------------------------------------------------------------------

    def _tell(self, d: Decision, event: str, why: str | None = None) -> None:
        log.info("placement: %s %s: %s%s: %s", d.vm, event, d.verdict.value,
                 f" -> {d.to}" if d.to else "", why or d.why)
        self.c.feed.publish([PlacementNotice(d.vm, event, d.verdict.value, d.at, d.to,
                                             why or d.why, self.clock())])

    def _start(self, d: Decision) -> None:
        assert d.to is not None and self.actuator is not None
        self._tasks[d.vm] = asyncio.create_task(self._carry_out(d, self.actuator),
                                                name=f"placement:{d.vm}")

    async def _carry_out(self, d: Decision, actuator: Actuator) -> None:
        started = self.clock()
        ok, why = False, ""
        try:
            why = await actuator.migrate(d.vm, d.to or "")
            ok = True
        except MobilityError as exc:
            why = str(exc)
        except asyncio.CancelledError:
            why = "the controller stopped"
            raise
        except Exception as exc:   # an actuator's bug must not take the engine with it
            log.exception("placement: the %s actuator failed on %s", actuator.name, d.vm)
            why = f"{type(exc).__name__}: {exc}"
        finally:
            ended = self.clock()
            self.engine.finished(d.vm, ok, why, ended)
            self._tasks.pop(d.vm, None)
            self.outcomes.append({"vm": d.vm, "from": d.at, "to": d.to, "ok": ok,
                                  "why": why, "started": started, "ended": ended,
                                  "cause": d.cause})
            self._tell(d, "migrated" if ok else "failed",
                       f"{why} ({ended - started:.1f} s)")

    # -- what the API shows -----------------------------------------------------------

    def status(self) -> dict[str, Any]:
        vms = []
        clients = self.world_clients()
        for vm in sorted(self.engine.policies):
            policy = self.engine.policies[vm]
            d = self.engine.decisions.get(vm)
            key = self.vms.get(vm)
            demand = self.meter.demand(key) if key is not None else None
            host = self.c.core.tracker.lookup(key) if key is not None else None
            entry: dict[str, Any] = {
                "vm": vm, **policy.as_json(), "source": self.sources.get(vm, "?"),
                "at": None if host is None else self._hypervisor_at.get(host.location),
                "here_s": None if host is None else round(self.clock() - host.since, 3),
            }
            if demand is not None:
                entry["traffic"] = {
                    "packets_per_s": {sw: round(r, 2) for sw, r in
                                      sorted(demand.smoothed.items())},
                    "clients": {sw: [h for h in clients.get(sw, ()) if h != vm]
                                for sw in sorted(demand.smoothed)},
                    "intervals": demand.intervals, "discarded": demand.skipped,
                    "last_discarded": demand.discarded or None}
            entry["decision"] = None if d is None else d.as_json()
            vms.append(entry)
        c = self.engine.counters
        rs = sorted(self.round_seconds)
        return {
            "actuator": None if self.actuator is None else self.actuator.name,
            "managers": {n: dict(m.params) for n, m in sorted(self.engine.managers.items())},
            "interval_s": self.interval, "smoothing_s": self.meter.smoothing,
            "limits": {"max_moves": self.engine.limits.max_moves,
                       "per_s": self.engine.limits.per,
                       "concurrent": self.engine.limits.concurrent},
            "note": self.note or None,
            "backoff": {h: {"until_s": round(b.until - self.clock(), 1),
                            "failures": b.failures, "why": b.why}
                        for h, b in sorted(self.engine.backoff.items())
                        if b.until > self.clock()},
            "counters": {"rounds": c.rounds, "started": c.started, "succeeded": c.succeeded,
                         "failed": c.failed, "decisions": dict(c.decisions),
                         "manager_errors": dict(c.manager_errors),
                         "readings": self.meter.readings, "partial_readings": self.meter.partial},
            "round_ms_median": round(rs[len(rs) // 2] * 1e3, 3) if rs else None,
            "vms": vms, "recent": list(self.outcomes),
        }

    def world_clients(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for host in self.c.hosts():
            out.setdefault(host.location.switch, []).append(
                self.names.get(host.key) or int_to_mac(host.mac))
        return out
