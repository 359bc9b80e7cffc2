"""A client of the controller's REST API (ctrl/northbound/api.py), for the CLI and the lab."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

from ctrl.errors import MobilityError


class ApiError(MobilityError, ConnectionError):
    """The controller refused a request (its message is kept), or cannot be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


HEADERS = {"Content-Type": "application/json"}


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
         method: str | None = None, timeout: float = 10.0) -> object:
    """`METHOD http://API/api/v1/PATH` with a JSON body; the JSON answer. API is
    HOST:PORT or a URL."""
    data, verb = _request(body, method)
    req = urllib.request.Request(_url(api, path), data=data, method=verb, headers=HEADERS)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as reply:
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
                 method: str | None = None, timeout: float = 10.0) -> None:
        url = urllib.parse.urlsplit(_url(api, path))
        self.api = api
        self._target = url.path
        self._data, self._method = _request(body, method)
        self._conn = http.client.HTTPConnection(url.hostname or "localhost", url.port,
                                                timeout=timeout)
        try:
            self._conn.connect()
        except OSError as exc:
            self._conn.close()
            raise _unreachable(api, exc) from None

    def send(self) -> None:
        try:
            self._conn.request(self._method, self._target, body=self._data, headers=HEADERS)
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
