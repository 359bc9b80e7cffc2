"""A client of the controller's REST API (ctrl/northbound/api.py), for the CLI and the lab.

Writes to a controller that guards them (ctrl/northbound/auth.py) carry a bearer token
or a client certificate: `ClientAuth`, which the CLI and the lab take from the
environment (CTRL_API_TOKEN, CTRL_API_CACERT, CTRL_API_CERT, CTRL_API_KEY)."""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from ctrl.errors import MobilityError


class ApiError(MobilityError, ConnectionError):
    """The controller refused a request (its message is kept), or cannot be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True, slots=True)
class ClientAuth:
    token: str | None = None
    cacert: str | None = None   # the CA of an HTTPS API's certificate
    cert: str | None = None     # a client certificate and its key, for writes
    key: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ClientAuth:
        return cls(env.get("CTRL_API_TOKEN") or None, env.get("CTRL_API_CACERT") or None,
                   env.get("CTRL_API_CERT") or None, env.get("CTRL_API_KEY") or None)

    def headers(self) -> dict[str, str]:
        return {**HEADERS, **({"Authorization": f"Bearer {self.token}"} if self.token else {})}

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.cacert)
        if self.cert:
            try:
                ctx.load_cert_chain(self.cert, self.key)
            except (OSError, ssl.SSLError) as exc:
                raise ApiError(f"cannot use the client certificate {self.cert}: {exc}") from exc
        return ctx


NO_AUTH = ClientAuth()


def _url(api: str, path: str) -> str:
    base = api if "://" in api else f"http://{api}"
    return base.rstrip("/") + "/api/v1/" + path


def _request(body: Mapping[str, object] | None, method: str | None) -> tuple[bytes | None, str]:
    data = json.dumps(dict(body)).encode() if body is not None else None
    return data, method or ("POST" if data else "GET")


def _refused(status: int, raw: bytes, reason: str) -> ApiError:
    try:
        message = json.loads(raw).get("error", reason)
    except (ValueError, AttributeError):
        message = reason
    return ApiError(f"{status}: {message}", status)


def _unreachable(api: str, exc: BaseException) -> ApiError:
    return ApiError(f"cannot reach the controller at {api}: {getattr(exc, 'reason', exc)}")


def call(api: str, path: str, body: Mapping[str, object] | None = None,
         method: str | None = None, timeout: float = 10.0, auth: ClientAuth = NO_AUTH
         ) -> object:
    """`METHOD http://API/api/v1/PATH` with a JSON body; the JSON answer. API is
    HOST:PORT or a URL (https:// for an API with TLS)."""
    data, verb = _request(body, method)
    url = _url(api, path)
    req = urllib.request.Request(url, data=data, method=verb, headers=auth.headers())
    context = auth.context() if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as reply:
            return json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        raise _refused(exc.code, exc.read(), exc.reason) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise _unreachable(api, exc) from None


class PreparedCall:
    """A call whose connection is made beforehand, for a moment that must cost almost
    nothing: `send()` is one write to a connected socket; `answer()`, later, reads the
    reply (the JSON answer, or ApiError as `call` raises it). Closed by `answer()`."""

    def __init__(self, api: str, path: str, body: Mapping[str, object] | None = None,
                 method: str | None = None, timeout: float = 10.0,
                 auth: ClientAuth = NO_AUTH) -> None:
        url = urllib.parse.urlsplit(_url(api, path))
        self.api = api
        self._target = url.path
        self._headers = auth.headers()
        self._data, self._method = _request(body, method)
        host = url.hostname or "localhost"
        self._conn = (http.client.HTTPSConnection(host, url.port, timeout=timeout,
                                                  context=auth.context())
                      if url.scheme == "https"
                      else http.client.HTTPConnection(host, url.port, timeout=timeout))
        try:
            self._conn.connect()
        except OSError as exc:
            self._conn.close()
            raise _unreachable(api, exc) from None

    def send(self) -> None:
        try:
            self._conn.request(self._method, self._target, body=self._data,
                               headers=self._headers)
        except OSError as exc:
            self._conn.close()
            raise _unreachable(self.api, exc) from None

    def answer(self) -> object:
        try:
            reply = self._conn.getresponse()
            raw = reply.read()
        except (OSError, http.client.HTTPException) as exc:
            raise _unreachable(self.api, exc) from None
        finally:
            self._conn.close()
        if reply.status >= 400:
            raise _refused(reply.status, raw, reply.reason)
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise _unreachable(self.api, exc) from None

    def close(self) -> None:
        self._conn.close()
