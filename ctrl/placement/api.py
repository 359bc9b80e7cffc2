"""The placement engine's part of the REST API and of /metrics.

    GET    /api/v1/placement        per VM with a policy: the policy, where it is, its
                                    traffic (packets/s where it enters, the clients there),
                                    the decision, its candidates with their costs and why;
                                    the engine's limits, back-offs, counters, recent moves
    GET    /api/v1/placement/VM     one VM's
    PUT    /api/v1/placement/VM     {"policy": MANAGER[, PARAM: NUMBER ...][, "hypervisors":
                                    [...]]}: set its policy (checked first: a 400 saying why
                                    changes nothing)
    DELETE /api/v1/placement/VM     no policy: the engine leaves it where it is

`install` adds them to the controller's application (ctrl/northbound/api.py), whose
middleware guards the writes as it guards the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector

from ctrl.northbound.api import REGISTRY
from ctrl.placement.manager import PlacementError
from ctrl.placement.policy import from_json
from ctrl.placement.service import PlacementService

SERVICE: web.AppKey[PlacementService] = web.AppKey("placement", PlacementService)


def _error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=json.dumps({"error": message}), content_type="application/json")


async def show(request: web.Request) -> web.Response:
    return web.json_response(request.app[SERVICE].status())


def _one(service: PlacementService, vm: str) -> dict[str, Any]:
    for entry in service.status()["vms"]:
        if entry["vm"] == vm:
            return dict(entry)
    if vm not in service.vms:
        raise _error(web.HTTPNotFound, f"no VM {vm!r}")
    raise _error(web.HTTPNotFound, f"{vm} has no placement policy")


async def show_one(request: web.Request) -> web.Response:
    return web.json_response(_one(request.app[SERVICE], request.match_info["vm"]))


async def put(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    vm = request.match_info["vm"]
    if vm not in service.vms:
        raise _error(web.HTTPNotFound, f"no VM {vm!r} (VMs: {', '.join(sorted(service.vms))})")
    try:
        body = await request.json()
    except ValueError:
        raise _error(web.HTTPBadRequest, "the body must be JSON") from None
    try:
        service.set_policy(vm, from_json(body))
    except PlacementError as exc:
        raise _error(web.HTTPBadRequest, str(exc)) from None
    return web.json_response({"vm": vm, **service.engine.policies[vm].as_json(),
                              "status": "policy set: the next round follows it"})


async def delete(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    vm = request.match_info["vm"]
    if vm not in service.vms:
        raise _error(web.HTTPNotFound, f"no VM {vm!r}")
    try:
        service.set_policy(vm, None)
    except PlacementError as exc:
        raise _error(web.HTTPConflict, str(exc)) from None
    return web.json_response({"vm": vm, "status": "no placement policy: it stays put"})


class PlacementCollector(Collector):
    def __init__(self, service: PlacementService) -> None:
        self.s = service

    def collect(self) -> Iterator[Any]:
        e = self.s.engine
        c = e.counters
        decisions = CounterMetricFamily("mobility_placement_decisions",
                                        "placement decisions that changed, by verdict",
                                        labels=["decision"])
        for verdict, n in sorted(c.decisions.items()):
            decisions.add_metric([verdict], n)
        yield decisions
        now = GaugeMetricFamily("mobility_placement_vms", "VMs with a policy, by their "
                                "current decision", labels=["decision"])
        counts: dict[str, int] = {}
        for d in e.decisions.values():
            counts[d.verdict.value] = counts.get(d.verdict.value, 0) + 1
        for verdict, n in sorted(counts.items()):
            now.add_metric([verdict], n)
        yield now
        migrations = CounterMetricFamily("mobility_placement_migrations",
                                         "migrations the engine started, and how they ended",
                                         labels=["result"])
        for result, n in (("started", c.started), ("succeeded", c.succeeded),
                          ("failed", c.failed)):
            migrations.add_metric([result], n)
        yield migrations
        errors = CounterMetricFamily("mobility_placement_manager_errors",
                                     "rounds in which a mobility manager failed",
                                     labels=["manager"])
        for name, n in sorted(c.manager_errors.items()):
            errors.add_metric([name], n)
        yield errors
        yield CounterMetricFamily("mobility_placement_rounds", "placement rounds",
                                  value=c.rounds)
        yield CounterMetricFamily("mobility_placement_counter_readings",
                                  "full readings of the bridging counters",
                                  value=self.s.meter.readings)
        yield GaugeMetricFamily("mobility_placement_backoffs",
                                "hypervisors backed off after a failed migration",
                                value=sum(1 for b in e.backoff.values()
                                          if b.until > self.s.clock()))
        rs = self.s.round_seconds
        yield SummaryMetricFamily("mobility_placement_round_seconds",
                                  "a round: counters read, demand, decisions",
                                  count_value=len(rs), sum_value=sum(rs))


def install(app: web.Application, service: PlacementService) -> None:
    """The routes above, and the collector into the app's /metrics registry."""
    app[SERVICE] = service
    app[REGISTRY].register(PlacementCollector(service))
    app.router.add_get("/api/v1/placement", show)
    app.router.add_get("/api/v1/placement/{vm}", show_one)
    app.router.add_put("/api/v1/placement/{vm}", put)
    app.router.add_delete("/api/v1/placement/{vm}", delete)
