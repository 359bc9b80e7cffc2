"""The live web view, on the API's port: the page, its files, and its feed.

    GET /                      the page (ctrl/northbound/static/index.html)
    GET /web/NAME              its ES modules, style sheet and icon
    GET /api/v1/topology       the declared topology, with where to draw each part
    GET /api/v1/events         server-sent events: a snapshot, then every notice

The feed is the controller's own (ctrl/control/notices.py: `Feed`): each open page
is one subscriber with a bounded backlog. The controller never waits for a page:
a page that falls so far behind that notices were dropped for it is told so and
disconnected (its browser reconnects and starts again from a snapshot), and so is
one that does not take a write within WRITE_TIMEOUT seconds. Each message is one
`data:` line of JSON, {"kind": KIND, "data": PAYLOAD}: a notice of any kind the
feed carries goes out as it is, so a new kind needs no change here.

Traffic (ctrl/northbound/traffic.py) is read from the switches' counters only while
a page is open, one batched Read per switch each `traffic_interval` seconds (0: never).
Reads stay open; writes (the page's migrate form posts to /api/v1/migrate) need the
API's token like any other client's (ctrl/northbound/auth.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from importlib import resources
from typing import Any

from aiohttp import web

from ctrl.control.notices import Notice, Subscription
from ctrl.control.runner import Controller
from ctrl.northbound.traffic import TrafficSampler
from ctrl.northbound.view import message, notice_message, snapshot_notices, topology_json

log = logging.getLogger(__name__)

HEARTBEAT = 10.0        # seconds between keep-alives (with the controller's clock)
WRITE_TIMEOUT = 5.0     # a page that takes no write for this long is dropped
MAX_STREAMS = 64        # open pages at once; more get 503
CHUNK = 256             # notices encoded between two turns of the controller's loop
RETRY_MS = 1000         # how soon a browser reconnects
STATIC = {               # what the page is made of, and nothing else
    "index.html": "text/html",
    "app.js": "text/javascript",
    "api.js": "text/javascript",
    "model.js": "text/javascript",
    "draw.js": "text/javascript",
    "timeline.js": "text/javascript",
    "panel.js": "text/javascript",
    "style.css": "text/css",
    "icon.svg": "image/svg+xml",
}
# The page loads only its own files, and sends only to its own API.
POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
          "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
          "frame-ancestors 'none'")


class WebView:
    """The page's server side: open streams and the traffic sampler."""

    def __init__(self, controller: Controller, traffic_interval: float = 2.0,
                 token_needed: bool = False) -> None:
        self.c = controller
        self.token_needed = token_needed
        self.streams = 0
        self.dropped = 0
        self.closing = asyncio.Event()
        self.sampler = (TrafficSampler(controller, traffic_interval, lambda: self.streams > 0)
                        if traffic_interval > 0 else None)
        self._files: dict[str, bytes] = {}

    def file(self, name: str) -> bytes:
        if name not in self._files:
            self._files[name] = resources.files("ctrl.northbound").joinpath(
                "static", name).read_bytes()
        return self._files[name]

    def snapshot(self) -> tuple[dict[str, Any], list[Notice]]:
        """What a new page starts from: the clock and role, and the state as notices."""
        c = self.c
        now = c.clock()
        return ({"now": now, "may_write": c.may_write()},
                snapshot_notices(c.core, {n: s.status() for n, s in c.sessions.items()}, now))


VIEW: web.AppKey[WebView] = web.AppKey("web-view", WebView)


async def page(request: web.Request) -> web.Response:
    return _file(request.app[VIEW], "index.html")


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound(text=json.dumps({"error": f"no file {name}"}),
                               content_type="application/json")
    return _file(request.app[VIEW], name)


def _file(view: WebView, name: str) -> web.Response:
    return web.Response(body=view.file(name), content_type=STATIC[name],
                        charset="utf-8" if STATIC[name].startswith("text/") else None,
                        headers={"Content-Security-Policy": POLICY,
                                 "Cache-Control": "no-cache",
                                 "X-Content-Type-Options": "nosniff"})


async def topology(request: web.Request) -> web.Response:
    view = request.app[VIEW]
    return web.json_response({**topology_json(view.c.topo), "token_needed": view.token_needed})


def _event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


@functools.lru_cache(maxsize=4096)
def _notice_event(n: Notice) -> bytes:
    """A notice as its event, made once for every page that is sent it (notices are
    frozen values: equal ones say the same)."""
    return _event(notice_message(n))


async def _in_turns(notices: Sequence[Notice], encode: Callable[[Notice], bytes]) -> list[bytes]:
    """Each notice encoded, CHUNK at a time with a turn of the loop in between: a burst
    of thousands (a storm of moves, a snapshot of every host) does not hold up the
    controller, which shares this loop."""
    out: list[bytes] = []
    for i in range(0, len(notices), CHUNK):
        out += [encode(n) for n in notices[i:i + CHUNK]]
        if len(notices) > CHUNK:
            await asyncio.sleep(0)
    return out


async def _snapshot_event(head: dict[str, Any], notices: list[Notice]) -> bytes:
    parts = await _in_turns(notices, lambda n: json.dumps(
        notice_message(n), separators=(",", ":")).encode())
    data = json.dumps({"kind": "snapshot", "data": {**head, "notices": []}},
                      separators=(",", ":")).encode()
    assert data.endswith(b"[]}}")
    return b"data: " + data[:-3] + b",".join(parts) + b"]}}\n\n"


async def _next(sub: Subscription, view: WebView, timeout: float
                ) -> tuple[list[Notice], int] | None:
    """The notices waiting (with how many were lost), or None when the traffic sampler
    has news, the heartbeat is due or the server is closing."""
    notices = asyncio.ensure_future(sub.next())
    others = [asyncio.ensure_future(view.closing.wait())]
    if view.sampler is not None:
        others.append(asyncio.ensure_future(view.sampler.fresh.wait()))
    try:
        done, _ = await asyncio.wait([notices, *others], timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in others:
            w.cancel()
    if notices in done:
        return notices.result()
    notices.cancel()   # it takes nothing from the queue until it returns
    with contextlib.suppress(asyncio.CancelledError):
        await notices
    return None


async def events(request: web.Request) -> web.StreamResponse:
    view = request.app[VIEW]
    if view.streams >= MAX_STREAMS:
        raise web.HTTPServiceUnavailable(
            text=json.dumps({"error": f"{MAX_STREAMS} pages are open already"}),
            content_type="application/json")
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-cache",
                                       "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    c = view.c
    # Subscribed and snapshot taken with no await between: nothing falls in between.
    sub = c.feed.subscribe()
    head, state = view.snapshot()
    view.streams += 1
    if view.sampler is not None:
        view.sampler.wake.set()
    traffic_seen = -1
    try:
        await _write(resp, f"retry: {RETRY_MS}\n\n".encode()
                     + await _snapshot_event(head, state))
        while not view.closing.is_set():
            got = await _next(sub, view, HEARTBEAT)
            if view.closing.is_set():
                break
            out = b""
            if got is not None:
                notices, lost = got
                if lost:
                    view.dropped += 1
                    log.info("web view: a page fell %d notices behind: dropped (it will "
                             "reconnect from a snapshot)", lost)
                    await _write(resp, _event(message("lost", {"notices": lost})))
                    break
                out = b"".join(await _in_turns(notices, _notice_event))
            sampler = view.sampler
            if sampler is not None and sampler.seq != traffic_seen and sampler.latest:
                traffic_seen = sampler.seq
                out += _event(message("traffic", sampler.latest))
            if not out:
                out = _event(message("clock", {"now": c.clock()}))
            await _write(resp, out)
    except (ConnectionError, TimeoutError) as exc:
        log.debug("web view: a page went (%s)", exc or type(exc).__name__)
    finally:
        view.streams -= 1
        c.feed.unsubscribe(sub)
    return resp


async def _write(resp: web.StreamResponse, data: bytes) -> None:
    await asyncio.wait_for(resp.write(data), WRITE_TIMEOUT)


def install(app: web.Application, controller: Controller, traffic_interval: float = 2.0,
            token_needed: bool = False) -> WebView:
    """The page and its feed on `app` (the API's): GET only, so open to read;
    `token_needed`: the page asks for the API token before its first change."""
    view = WebView(controller, traffic_interval, token_needed)
    app[VIEW] = view
    app.router.add_get("/", page)
    app.router.add_get("/web/{name}", static)
    app.router.add_get("/api/v1/topology", topology)
    app.router.add_get("/api/v1/events", events)

    async def sampling(_: web.Application) -> AsyncIterator[None]:
        task = None
        if view.sampler is not None:
            task = asyncio.create_task(view.sampler.run(view.closing), name="web-traffic")
        yield
        view.closing.set()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def closing(_: web.Application) -> None:
        view.closing.set()   # the open streams end, so that shutdown does not wait on them

    app.cleanup_ctx.append(sampling)
    app.on_shutdown.append(closing)
    return view
