"""The northbound REST API (JSON) and Prometheus metrics of a running controller.

    GET  /api/v1/hosts             where every VM is
    GET  /api/v1/switches          each switch: address, connected, primary, pipeline,
                                   in sync, reconnects, the last error and when, entries held
    GET  /api/v1/migrations        announced migrations under way, and the latest finished
    GET  /api/v1/moves             the latest moves' convergence, with where their time went
                                   (packet-in to decision, planning, each Write's round trip)
    GET  /api/v1/path?src=A&dst=B  the fewest-links path between two switches; between two
                                   VMs or clients (names or MACs): from the one's switch to
                                   the other's, through their sites' GRE tunnel if apart
    GET  /api/v1/tunnels           GRE tunnels between site gateways
    POST /api/v1/migrate           {"vm": NAME or MAC, "to": HYPERVISOR}: announce a migration;
                                   with "libvirt": true, libvirt then performs it; "cause"
                                   (optional) says who asked: operator (default), placement
    POST /api/v1/migrate/VM/switch it has stopped at its source: deliver at the new place only
    DELETE /api/v1/migrate/VM      cancel it (the VM stays where it is, or goes back there)
    GET  /api/v1/openapi.json      this API's OpenAPI 3 description
    GET  /metrics                  Prometheus text format
    GET  /, /api/v1/topology, /api/v1/events   the live web view (ctrl/northbound/web.py)

Unknown VMs, hypervisors or switches are a 404 with a message; a malformed
request is a 400; a write without the token or client certificate the controller
asks for is a 401 (ctrl/northbound/auth.py); none of them changes anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from ctrl.control.hosts import HostError
from ctrl.control.migrations import Migration
from ctrl.control.plans import Outcome
from ctrl.control.runner import Controller
from ctrl.control.stages import STAGES
from ctrl.errors import MobilityError
from ctrl.northbound import webview
from ctrl.northbound.auth import ApiAuth, Handler, middleware
from ctrl.northbound.hypervisors import Hypervisors
from ctrl.northbound.view import NoRoute, host_names, route
from ctrl.p4rt.values import int_to_ipv4, int_to_mac

CONTROLLER: web.AppKey[Controller] = web.AppKey("controller", Controller)
_CAUSE = re.compile(r"[a-z][a-z0-9-]{0,31}")
REGISTRY: web.AppKey[CollectorRegistry] = web.AppKey("registry", CollectorRegistry)
HYPERVISORS: web.AppKey[Hypervisors | None] = web.AppKey("hypervisors")


def _error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=json.dumps({"error": message}), content_type="application/json")


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """An /api/ path no route takes (404), or a method it does not (405): answered in
    JSON, as every other error of the API (aiohttp's own answer is plain text)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/api/") \
                or exc.content_type == "application/json":
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return web.json_response({"error": f"{exc.reason}: {request.method} {request.path}"},
                                 status=exc.status, headers=headers)


async def hosts(request: web.Request) -> web.Response:
    c = request.app[CONTROLLER]
    return web.json_response([
        {"vnet": h.vnet, "mac": int_to_mac(h.mac),
         "ip": int_to_ipv4(h.ip) if h.ip is not None else None,
         "switch": h.location.switch, "port": h.location.port, "since": h.since}
        for h in c.hosts()
    ])


async def switches(request: web.Request) -> web.Response:
    c = request.app[CONTROLLER]
    out = []
    for name, s in sorted(c.sessions.items()):
        st = s.status()
        out.append({"name": name, "grpc_addr": s.switch.grpc_addr,
                    "device_id": s.switch.device_id, "site": s.switch.site,
                    "connected": st.connected, "primary": st.primary,
                    "pipeline": st.pipeline or None, "in_sync": st.in_sync,
                    "reconnects": st.reconnects, "repairs": st.repairs,
                    "malformed_packet_ins": st.malformed_packet_ins,
                    "last_error": st.last_error or None, "last_error_at": st.last_error_at,
                    "entries": s.entries, "writes": st.writes, "batches": st.batches})
    return web.json_response(out)


async def moves(request: web.Request) -> web.Response:
    """The latest moves' convergence with their stages (the controller's monotonic clock),
    from `since`."""
    try:
        since = float(request.query.get("since", "-inf"))
    except ValueError:
        raise _error(web.HTTPBadRequest, "since: a time (the controller's monotonic "
                     "clock, as the records' `time`)") from None
    return web.json_response([m.as_json() for m in request.app[CONTROLLER].rounds.moves
                              if m.time >= since])


def _migration(m: Migration) -> dict[str, object]:
    return {"mac": int_to_mac(m.mac), "vnet": m.vnet, "from": str(m.src), "to": str(m.dst),
            "phase": m.phase.value, "announced": m.announced, "changed": m.changed,
            "note": m.note or None, "cause": m.cause or None}


async def migrations(request: web.Request) -> web.Response:
    book = request.app[CONTROLLER].core.migrations
    return web.json_response({"active": [_migration(m) for m in book],
                              "finished": [_migration(m) for m in book.finished]})


async def path(request: web.Request) -> web.Response:
    c = request.app[CONTROLLER]
    src, dst = request.query.get("src"), request.query.get("dst")
    if not src or not dst:
        raise _error(web.HTTPBadRequest, "give both src and dst switch names")
    if src not in c.topo.switches and dst not in c.topo.switches:
        return _host_path(c, src, dst)
    for name in (src, dst):
        if name not in c.topo.switches:
            raise _error(web.HTTPNotFound, f"no switch {name}")
    hops = c.planner.path(src, dst)
    if hops is None:
        raise _error(web.HTTPNotFound, f"no path from {src} to {dst}")
    return web.json_response({"src": src, "dst": dst, "hops": hops})


def _host_path(c: Controller, src: str, dst: str) -> web.Response:
    """Between two hosts: the way their frames take, tunnel included."""
    try:
        way = route(c.core, src, dst)
    except NoRoute as exc:
        raise _error(web.HTTPNotFound, str(exc)) from None
    except HostError as exc:
        raise _error(web.HTTPNotFound, f"{exc} (src and dst: two switches, or two VMs or "
                     "clients)") from None
    return web.json_response({"src": src, "dst": dst, **way.as_json(host_names(c.topo))})


async def tunnels(request: web.Request) -> web.Response:
    c = request.app[CONTROLLER]
    return web.json_response([
        {"id": tid, "from": a, "to": b, "up": c.planner.tunnel_is_up(c.core.tunnels_up, a, b)}
        for (a, b), tid in sorted(c.planner.tunnels().items())
    ])


async def migrate(request: web.Request) -> web.Response:
    c = request.app[CONTROLLER]
    try:
        body = await request.json()
    except ValueError:
        raise _error(web.HTTPBadRequest, "the body must be JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("vm"), str) \
            or not isinstance(body.get("to"), str) \
            or not isinstance(body.get("libvirt", False), bool) \
            or not _CAUSE.fullmatch(str(body.get("cause", "operator"))):
        raise _error(web.HTTPBadRequest, 'give {"vm": NAME or MAC, "to": HYPERVISOR'
                     '[, "libvirt": true][, "cause": a word, e.g. "placement"]}')
    cause = str(body.get("cause", "operator"))
    if body.get("libvirt"):
        return await _migrate_by_libvirt(request.app[HYPERVISORS], c, body["vm"], body["to"],
                                         cause)
    try:
        done = await c.announce(body["vm"], body["to"], cause)
    except HostError as exc:
        raise _error(web.HTTPNotFound, str(exc)) from None
    except MobilityError as exc:
        raise _error(web.HTTPConflict, str(exc)) from None
    host, m = done.host, c.migration(body["vm"])
    if m is None:   # it arrived already (its RARP came first)
        return web.json_response({"vm": body["vm"], "mac": int_to_mac(host.mac),
                                  "at": str(host.location), "status": "arrived",
                                  "not_written": done.failed})
    return web.json_response({"vm": body["vm"], "mac": int_to_mac(host.mac),
                              "from": str(m.src), "to": str(m.dst),
                              "status": "expecting the VM's RARP at the new location",
                              "not_written": done.failed}, status=202)


async def _migrate_by_libvirt(hvs: Hypervisors | None, c: Controller, vm: str, to: str,
                              cause: str) -> web.Response:
    """The network readied, then libvirt's live migration; its figures in the answer."""
    if hvs is None:
        raise _error(web.HTTPConflict, "this controller reaches no hypervisor through "
                     "libvirt (`ctrl serve --libvirt HYPERVISOR=URI`)")
    try:
        done = await hvs.migrate(vm, to, cause)
    except HostError as exc:
        raise _error(web.HTTPNotFound, str(exc)) from None
    except MobilityError as exc:
        raise _error(web.HTTPConflict, str(exc)) from None
    return web.json_response({"vm": vm, "mac": int_to_mac(c.find(vm).mac), "from": done.src,
                              "to": done.dst, "domain": done.domain,
                              "downtime_ms": done.downtime_ms, "total_ms": done.total_ms,
                              "status": "migrated by libvirt, the network readied first"})


async def _flight_step(request: web.Request, step: Callable[[str], Awaitable[Outcome]],
                       status: str) -> web.Response:
    """A step of an announced migration (the VM by name or MAC in the path): the host
    where it is now, and the switches that did not take it; or a 404 saying why nothing
    changed."""
    vm = request.match_info["vm"]
    try:
        done = await step(vm)
    except HostError as exc:
        raise _error(web.HTTPNotFound, str(exc)) from None
    except MobilityError as exc:   # a standby's
        raise _error(web.HTTPConflict, str(exc)) from None
    return web.json_response({"vm": vm, "mac": int_to_mac(done.host.mac),
                              "at": str(done.host.location), "status": status,
                              "not_written": done.failed})


async def switch_over(request: web.Request) -> web.Response:
    return await _flight_step(request, request.app[CONTROLLER].switch_over,
                              "switched over: delivered at the new location")


async def cancel_migration(request: web.Request) -> web.Response:
    return await _flight_step(request, request.app[CONTROLLER].cancel,
                              "migration cancelled: delivered at one location")


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


async def metrics(request: web.Request) -> web.Response:
    data = generate_latest(request.app[REGISTRY])
    return web.Response(body=data, content_type="text/plain", charset="utf-8")


class _ControllerCollector(Collector):
    def __init__(self, controller: Controller) -> None:
        self.c = controller

    def collect(self) -> Iterator[Any]:
        m = self.c.metrics
        yield CounterMetricFamily("mobility_moves", "VM moves handled", value=m.moves)
        yield CounterMetricFamily("mobility_hosts_learned", "hosts learned", value=m.learned)
        yield CounterMetricFamily("mobility_proxy_arp_replies", "ARP requests answered",
                                  value=m.proxy_arp_replies)
        yield CounterMetricFamily("mobility_link_changes", "link state changes",
                                  value=m.link_changes)
        yield GaugeMetricFamily("mobility_hosts", "hosts known", value=len(self.c.hosts()))
        sessions = sorted(self.c.sessions.items())
        per_switch = {
            "connected": GaugeMetricFamily("mobility_switch_connected",
                                           "1 while the switch's stream is up", labels=["switch"]),
            "primary": GaugeMetricFamily("mobility_switch_primary",
                                         "1 while this controller is its primary",
                                         labels=["switch"]),
            "in_sync": GaugeMetricFamily("mobility_switch_in_sync",
                                         "1 while the switch took every write since its last "
                                         "full sync", labels=["switch"]),
        }
        repairs = CounterMetricFamily("mobility_switch_repairs",
                                      "writes a switch refused, then repaired by a resync",
                                      labels=["switch"])
        reconnects = CounterMetricFamily("mobility_switch_reconnects",
                                         "connections after the first", labels=["switch"])
        bad_meta = CounterMetricFamily("mobility_switch_packet_ins_malformed",
                                       "packet-ins dropped for metadata the P4Info does not "
                                       "allow", labels=["switch"])
        for name, s in sessions:
            st = s.status()
            for field, family in per_switch.items():
                family.add_metric([name], float(getattr(st, field)))
            repairs.add_metric([name], st.repairs)
            reconnects.add_metric([name], st.reconnects)
            bad_meta.add_metric([name], st.malformed_packet_ins)
        yield from per_switch.values()
        yield GaugeMetricFamily("mobility_switches_connected", "switches connected",
                                value=sum(s.connected for _, s in sessions))
        yield repairs
        yield reconnects
        yield bad_meta
        yield CounterMetricFamily("mobility_packet_ins", "packet-ins the controller read",
                                  value=m.packet_ins)
        yield CounterMetricFamily("mobility_packet_ins_unparsable",
                                  "packet-ins whose frame or metadata the parser refused",
                                  value=m.malformed)
        finished = CounterMetricFamily("mobility_migrations_finished",
                                       "announced migrations that ended, by how",
                                       labels=["phase"])
        for phase, count in sorted(m.migrations.items()):
            finished.add_metric([phase], count)
        yield finished
        yield GaugeMetricFamily("mobility_migrations_active", "announced migrations under way",
                                value=len(self.c.core.migrations))
        conv = self.c.rounds.convergence_s
        yield SummaryMetricFamily("mobility_convergence_seconds",
                                  "packet-in to last write acknowledged, per converged move",
                                  count_value=len(conv), sum_value=sum(conv))
        stages = HistogramMetricFamily(
            "mobility_move_stage_seconds", "where moves' time goes inside the controller: "
            "packet_in_to_decision, planning, write (each Write's round trip), "
            "packet_in_to_converged", labels=["stage"])
        hist = self.c.rounds.stages
        for stage in STAGES:
            stages.add_metric([stage], hist.buckets(stage), hist.sums[stage])
        yield stages
        yield CounterMetricFamily("mobility_packet_ins_quiet",
                                  "packet-ins that could change nothing (settled hosts' "
                                  "repeats), told apart in C", value=m.quiet)


def make_app(controller: Controller, hypervisors: Hypervisors | None = None,
             auth: ApiAuth | None = None, traffic_interval: float = 2.0) -> web.Application:
    """The API's application, with the web view; writes guarded as `auth` says
    (ctrl/northbound/auth.py); the view reads traffic counters every `traffic_interval`
    seconds while a page is open (0: never)."""
    auth = auth or ApiAuth()
    app = web.Application(middlewares=[_json_errors, middleware(auth)])
    app[CONTROLLER] = controller
    app[HYPERVISORS] = hypervisors
    registry = CollectorRegistry()
    registry.register(_ControllerCollector(controller))
    app[REGISTRY] = registry
    app.router.add_get("/api/v1/hosts", hosts)
    app.router.add_get("/api/v1/switches", switches)
    app.router.add_get("/api/v1/path", path)
    app.router.add_get("/api/v1/tunnels", tunnels)
    app.router.add_get("/api/v1/migrations", migrations)
    app.router.add_get("/api/v1/moves", moves)
    app.router.add_post("/api/v1/migrate", migrate)
    app.router.add_post("/api/v1/migrate/{vm}/switch", switch_over)
    app.router.add_delete("/api/v1/migrate/{vm}", cancel_migration)
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/metrics", metrics)
    webview.install(app, controller, traffic_interval, token_needed=auth.token is not None)
    return app


def _get(summary: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"summary": summary, "responses": {
        "200": {"description": "OK", "content": {"application/json": {"schema": schema}}}}}


_ERR = {"description": "error", "content": {"application/json": {"schema": {
    "type": "object", "properties": {"error": {"type": "string"}}}}}}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "vm-mobility controller", "version": "1"},
    "paths": {
        "/api/v1/hosts": {"get": _get("where every VM is", {"type": "array", "items": {
            "type": "object", "properties": {
                "vnet": {"type": "integer"}, "mac": {"type": "string"},
                "ip": {"type": "string", "nullable": True}, "switch": {"type": "string"},
                "port": {"type": "integer"}, "since": {"type": "number"}}}})},
        "/api/v1/switches": {"get": _get("the switches", {"type": "array", "items": {
            "type": "object", "properties": {
                "name": {"type": "string"}, "grpc_addr": {"type": "string"},
                "device_id": {"type": "integer"}, "site": {"type": "string"},
                "connected": {"type": "boolean"}, "in_sync": {"type": "boolean"},
                "entries": {"type": "integer"}}}})},
        "/api/v1/topology": {"get": _get(
            "the declared topology, with where the web view draws each part",
            {"type": "object"})},
        "/api/v1/events": {"get": {"summary": "the live feed (server-sent events): a "
                                   "snapshot, then every notice, each {kind, data}",
                                   "responses": {"200": {"description": "text/event-stream"}}}},
        "/api/v1/path": {"get": {**_get("fewest-links path between two switches, or between "
                                        "two VMs or clients (through their sites' tunnel)",
                                        {"type": "object"}),
                                 "parameters": [
                                     {"name": "src", "in": "query", "required": True,
                                      "schema": {"type": "string"}},
                                     {"name": "dst", "in": "query", "required": True,
                                      "schema": {"type": "string"}}]}},
        "/api/v1/tunnels": {"get": _get("GRE tunnels", {"type": "array"})},
        "/api/v1/migrations": {"get": _get("announced migrations: under way and finished",
                                           {"type": "object"})},
        "/api/v1/moves": {"get": _get("the latest moves' convergence, each with its stages "
                                      "(ms); query since=T: from the controller's monotonic "
                                      "time T", {"type": "array"})},
        "/api/v1/migrate": {"post": {
            "summary": "announce a migration: pre-provision, then expect the VM's RARP; "
                       "with libvirt, have libvirt perform it too",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["vm", "to"],
                "properties": {"vm": {"type": "string"}, "to": {"type": "string"},
                               "libvirt": {"type": "boolean"}, "cause": {"type": "string"}}}}}},
            "responses": {"200": {"description": "migrated by libvirt"},
                          "202": {"description": "accepted"}, "400": _ERR, "404": _ERR,
                          "409": _ERR}}},
        "/api/v1/migrate/{vm}/switch": {"post": {
            "summary": "the VM has stopped at its source: deliver at the new location only",
            "parameters": [{"name": "vm", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": {"description": "switched over"}, "404": _ERR}}},
        "/api/v1/migrate/{vm}": {"delete": {
            "summary": "cancel an announced migration: the VM stays where it is",
            "parameters": [{"name": "vm", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": {"description": "cancelled"}, "404": _ERR}}},
    },
}
