"""`GET /api/v1/ha` and the HA metrics, added to the API's application when `ctrl serve`
runs with `--etcd`."""

from __future__ import annotations

from aiohttp import web

from ctrl.control.runner import Controller
from ctrl.ha.election import Elector
from ctrl.ha.failover import HaCollector, status
from ctrl.northbound.api import REGISTRY


def install(app: web.Application, controller: Controller, elector: Elector) -> None:
    async def ha(request: web.Request) -> web.Response:
        return web.json_response(status(controller, elector).as_json())

    app.router.add_get("/api/v1/ha", ha)
    app[REGISTRY].register(HaCollector(controller, elector))
