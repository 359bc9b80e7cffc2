"""An etcd v3 client over etcd's JSON gateway (`/v3/...`, grpc-gateway), on aiohttp.

Only what the election and the shared state need: leases (grant, keep alive, revoke),
put / get / range / delete, a transaction with comparisons, and watches streamed as
JSON lines. Keys and values are bytes here and base64 on the wire, int64s are strings
there (as the gateway writes them). Endpoints are tried in turn; when none answers,
EtcdUnavailable (an EtcdError) says so, naming every endpoint and why.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp

from ctrl.errors import MobilityError

log = logging.getLogger(__name__)


class EtcdError(MobilityError, RuntimeError):
    """etcd refused a request (the gateway's error, with its gRPC code)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class EtcdUnavailable(EtcdError, ConnectionError):
    """No endpoint answered."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def prefix_end(prefix: bytes) -> bytes:
    """The range_end that makes a range of every key starting with `prefix`."""
    head = prefix.rstrip(b"\xff")
    if not head:
        return b"\x00"   # every key
    return head[:-1] + bytes([head[-1] + 1])


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int

    @staticmethod
    def decode(kv: dict[str, Any]) -> KeyValue:
        return KeyValue(_unb64(kv.get("key")), _unb64(kv.get("value")),
                        int(kv.get("create_revision", 0)), int(kv.get("mod_revision", 0)),
                        int(kv.get("version", 0)), int(kv.get("lease", 0)))


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str   # "PUT" or "DELETE"
    kv: KeyValue
    revision: int   # the header's: the store's revision with this event


# -- transactions --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Compare:
    """One comparison of a txn: `target` (CREATE, MOD, VERSION, VALUE) of `key`."""

    key: bytes
    target: str
    result: str = "EQUAL"   # EQUAL, GREATER, LESS, NOT_EQUAL
    value: int | bytes = 0

    def encode(self) -> dict[str, Any]:
        field_name = {"CREATE": "create_revision", "MOD": "mod_revision",
                      "VERSION": "version", "VALUE": "value"}[self.target]
        value = _b64(self.value) if isinstance(self.value, bytes) else str(self.value)
        return {"key": _b64(self.key), "target": self.target, "result": self.result,
                field_name: value}


@dataclass(frozen=True, slots=True)
class Put:
    key: bytes
    value: bytes
    lease: int = 0

    def encode(self) -> dict[str, Any]:
        body: dict[str, Any] = {"key": _b64(self.key), "value": _b64(self.value)}
        if self.lease:
            body["lease"] = str(self.lease)
        return {"request_put": body}


@dataclass(frozen=True, slots=True)
class Get:
    key: bytes
    range_end: bytes = b""

    def encode(self) -> dict[str, Any]:
        body = {"key": _b64(self.key)}
        if self.range_end:
            body["range_end"] = _b64(self.range_end)
        return {"request_range": body}


@dataclass(frozen=True, slots=True)
class Delete:
    key: bytes
    range_end: bytes = b""

    def encode(self) -> dict[str, Any]:
        body = {"key": _b64(self.key)}
        if self.range_end:
            body["range_end"] = _b64(self.range_end)
        return {"request_delete_range": body}


Op = Put | Get | Delete


@dataclass(frozen=True, slots=True)
class TxnResult:
    succeeded: bool
    revision: int   # the store's revision after the txn (a write in it made this one)
    ranges: list[list[KeyValue]] = field(default_factory=list)   # each Get's answer, in order


# -- the client ----------------------------------------------------------------------

class EtcdClient:
    """`async with EtcdClient(["http://127.0.0.1:2379"]) as etcd: ...`"""

    def __init__(self, endpoints: Sequence[str], timeout: float = 1.0) -> None:
        if not endpoints:
            raise EtcdError("no etcd endpoint given")
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._preferred = 0   # the endpoint that answered last

    async def __aenter__(self) -> EtcdClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    def _order(self) -> list[str]:
        n = len(self.endpoints)
        return [self.endpoints[(self._preferred + i) % n] for i in range(n)]

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One unary request to the first endpoint that answers."""
        why: list[str] = []
        for i, url in enumerate(self._order()):
            try:
                async with self._http().post(
                        url + path, json=body,
                        timeout=aiohttp.ClientTimeout(total=self.timeout)) as reply:
                    data = await reply.json(content_type=None)
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                why.append(f"{url}: {exc or type(exc).__name__}")
                continue
            self._preferred = (self._preferred + i) % len(self.endpoints)
            if not isinstance(data, dict):
                raise EtcdError(f"etcd at {url} answered {path} with {data!r}")
            if "error" in data or (reply.status != 200 and "code" in data):
                raise EtcdError(f"etcd {path}: {data.get('message') or data.get('error')}",
                                data.get("code"))
            return data
        raise EtcdUnavailable(f"etcd is unreachable: {'; '.join(why)}")

    # -- leases --------------------------------------------------------------------

    async def grant(self, ttl: int) -> tuple[int, int]:
        """A new lease: (its id, the TTL etcd granted, which may exceed `ttl`)."""
        data = await self.call("/v3/lease/grant", {"TTL": str(ttl)})
        return int(data["ID"]), int(data.get("TTL", 0))

    async def keepalive(self, lease: int) -> int:
        """One keep-alive: the lease's TTL from now, 0 when it has expired."""
        data = await self.call("/v3/lease/keepalive", {"ID": str(lease)})
        return int(data.get("result", {}).get("TTL", 0))

    async def revoke(self, lease: int) -> None:
        """The lease and every key under it gone (an unknown lease is no error here)."""
        try:
            await self.call("/v3/lease/revoke", {"ID": str(lease)})
        except EtcdError as exc:
            if exc.code != 5:   # NOT_FOUND: expired already
                raise

    # -- keys ------------------------------------------------------------------------

    async def put(self, key: bytes, value: bytes, lease: int = 0) -> int:
        """The revision the put made."""
        data = await self.call("/v3/kv/put", Put(key, value, lease).encode()["request_put"])
        return int(data["header"]["revision"])

    async def get(self, key: bytes) -> KeyValue | None:
        kvs, _ = await self.range(key)
        return kvs[0] if kvs else None

    async def range(self, key: bytes, range_end: bytes = b"") -> tuple[list[KeyValue], int]:
        """The keys in [key, range_end) (just `key` without an end), and the revision
        they were read at."""
        data = await self.call("/v3/kv/range", Get(key, range_end).encode()["request_range"])
        return ([KeyValue.decode(kv) for kv in data.get("kvs", [])],
                int(data["header"]["revision"]))

    async def prefix(self, prefix: bytes) -> tuple[list[KeyValue], int]:
        return await self.range(prefix, prefix_end(prefix))

    async def delete(self, key: bytes, range_end: bytes = b"") -> int:
        """How many keys went."""
        data = await self.call("/v3/kv/deleterange",
                               Delete(key, range_end).encode()["request_delete_range"])
        return int(data.get("deleted", 0))

    async def txn(self, compare: Sequence[Compare], success: Sequence[Op],
                  failure: Sequence[Op] = ()) -> TxnResult:
        data = await self.call("/v3/kv/txn", {
            "compare": [c.encode() for c in compare],
            "success": [op.encode() for op in success],
            "failure": [op.encode() for op in failure]})
        ranges = [[KeyValue.decode(kv) for kv in r["response_range"].get("kvs", [])]
                  for r in data.get("responses", []) if "response_range" in r]
        return TxnResult(bool(data.get("succeeded", False)), int(data["header"]["revision"]),
                         ranges)

    # -- watches ----------------------------------------------------------------------

    async def watch(self, key: bytes, range_end: bytes = b"", start_revision: int = 0
                    ) -> AsyncIterator[WatchEvent]:
        """Every change to [key, range_end) from `start_revision` (0: from now), as it
        happens, until the stream breaks (EtcdUnavailable) or the caller stops."""
        create: dict[str, Any] = {"key": _b64(key)}
        if range_end:
            create["range_end"] = _b64(range_end)
        if start_revision:
            create["start_revision"] = str(start_revision)
        why: list[str] = []
        for url in self._order():
            try:
                reply = await self._http().post(
                    url + "/v3/watch", json={"create_request": create},
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.timeout))
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                why.append(f"{url}: {exc or type(exc).__name__}")
                continue
            try:
                async for event in self._events(reply):
                    yield event
                raise EtcdUnavailable(f"etcd at {url} ended the watch")
            except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
                raise EtcdUnavailable(f"etcd watch at {url} broke: {exc}") from exc
            finally:
                reply.close()
        raise EtcdUnavailable(f"etcd is unreachable: {'; '.join(why)}")

    @staticmethod
    async def _events(reply: aiohttp.ClientResponse) -> AsyncIterator[WatchEvent]:
        buf = b""
        async for chunk in reply.content.iter_any():
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if not line.strip():
                    continue
                data = json.loads(line)
                if "error" in data:
                    raise EtcdError(f"etcd watch: {data['error'].get('message')}")
                result = data.get("result", {})
                if result.get("canceled"):
                    raise EtcdError(f"etcd cancelled the watch: "
                                    f"{result.get('cancel_reason', '')}")
                revision = int(result.get("header", {}).get("revision", 0))
                for ev in result.get("events", []):
                    yield WatchEvent(ev.get("type", "PUT"), KeyValue.decode(ev["kv"]),
                                     revision)
