"""A client of the controller's REST API (ctrl/api.py), for the CLI and the lab."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping

from ctrl.errors import MobilityError


class ApiError(MobilityError, ConnectionError):
    """The controller refused a request (its message is kept), or cannot be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def call(api: str, path: str, body: Mapping[str, object] | None = None,
         method: str | None = None, timeout: float = 10.0) -> object:
    """`METHOD http://API/api/v1/PATH` with a JSON body; the JSON answer. API is
    HOST:PORT or a URL."""
    base = api if "://" in api else f"http://{api}"
    url = base.rstrip("/") + "/api/v1/" + path
    data = json.dumps(dict(body)).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as reply:
            return json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            message = exc.reason
        raise ApiError(f"{exc.code}: {message}", exc.code) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ApiError(f"cannot reach the controller at {api}: {reason}") from None
