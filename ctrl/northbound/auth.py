"""Who may change things through the REST API: a bearer token, or a client certificate
signed by a CA the operator names. Reads stay open; every write (POST, PUT, PATCH,
DELETE) needs one of the two, else 401 and nothing changes.

    ctrl serve ... --api-token-file TOKEN [--api-cert C.pem --api-key K.pem]
                   [--api-cacert CA.pem]

With --api-cert the API is HTTPS. With --api-cacert, clients may show a certificate that
CA signed (TLS asks for one, not insists: reads work without). The API refuses to listen
on anything but loopback with neither a token nor client certificates.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

from ctrl.errors import MobilityError

READS = frozenset({"GET", "HEAD", "OPTIONS"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AuthError(MobilityError, ValueError):
    """API security options that cannot be used: an unreadable file, an empty token, a
    public address with nothing to authenticate writes."""


@dataclass(frozen=True, slots=True)
class ApiAuth:
    token: str | None = None
    client_certs: bool = False    # a client certificate from the CA authorizes writes

    @property
    def guarded(self) -> bool:
        return self.token is not None or self.client_certs

    def allows(self, request: web.Request) -> bool:
        if request.method in READS:
            return True
        given = request.headers.get("Authorization", "")
        if self.token is not None and given.startswith("Bearer ") and hmac.compare_digest(
                given[7:].strip().encode(), self.token.encode()):
            return True
        if self.client_certs and request.transport is not None:
            return bool(request.transport.get_extra_info("peercert"))
        return not self.guarded


def read_token(path: Path) -> str:
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise AuthError(f"cannot read the API token {path}: {exc.strerror}") from exc
    if len(token) < 16:
        raise AuthError(f"the API token in {path} is {len(token)} characters: give 16 or more")
    return token


def server_context(cert: Path, key: Path, cacert: Path | None) -> ssl.SSLContext:
    """HTTPS with `cert`; with `cacert`, client certificates it signed are checked
    when shown (CERT_OPTIONAL: reads need none)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(cert, key)
        if cacert is not None:
            ctx.load_verify_locations(cacert)
            ctx.verify_mode = ssl.CERT_OPTIONAL
    except (OSError, ssl.SSLError) as exc:
        raise AuthError(f"cannot use the API's TLS files: {exc}") from exc
    return ctx


def check_listen(host: str, auth: ApiAuth) -> None:
    """Loopback, or writes guarded: else an error before anything listens."""
    try:
        loopback = ipaddress.ip_address(host or "127.0.0.1").is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback and not auth.guarded:
        raise AuthError(f"the API would listen on {host} with writes open to anyone: give "
                        "--api-token-file or --api-cacert (or listen on 127.0.0.1)")


def middleware(auth: ApiAuth) -> Middleware:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not auth.allows(request):
            raise web.HTTPUnauthorized(
                text=json.dumps({"error": "this request changes the controller: give "
                                 "'Authorization: Bearer TOKEN' or a client certificate"}),
                content_type="application/json",
                headers={"WWW-Authenticate": 'Bearer realm="vm-mobility"'})
        return await handler(request)

    return check
