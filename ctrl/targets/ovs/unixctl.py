"""`ovs-appctl` without a process: JSON-RPC on ovs-vswitchd's unixctl socket, one call on a
connection of its own (`call`), or many on one kept open (`Connection`)."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import itertools
import json
from pathlib import Path
from typing import Any

from ctrl.targets.ovs.errors import OvsError


def _request(method: str, params: tuple[str, ...], rid: int) -> bytes:
    return json.dumps({"method": method, "params": list(params), "id": rid}).encode()


def _result(path: Path, method: str, reply: dict[str, Any]) -> str:
    if reply.get("error"):
        raise OvsError(f"{path}: {method}: {reply['error']}")
    return str(reply.get("result", ""))


async def call(path: Path, method: str, *params: str, timeout: float = 10.0) -> str:
    """`ovs-appctl -t PATH METHOD PARAMS...` on a connection of its own; returns the
    reply text."""
    connection = Connection(path)
    try:
        async with asyncio.timeout(timeout):
            return await (await connection.send(method, *params))
    finally:
        await connection.close()


class Connection:
    """A unixctl connection kept open: ovs-vswitchd serves its requests in order, in its
    main loop. `send` returns once the request is in the socket, with its reply to await
    (an OvsError if the connection breaks first). Opened on first use, and again after it
    broke; `close` fails what is still unanswered."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None
        self._waiting: dict[int, tuple[str, asyncio.Future[str]]] = {}
        self._ids = itertools.count()
        self._opening = asyncio.Lock()

    async def send(self, method: str, *params: str) -> asyncio.Future[str]:
        async with self._opening:
            if self._writer is None:
                reader, self._writer = await asyncio.open_unix_connection(str(self.path))
                self._reading = asyncio.create_task(self._read(reader, self._writer),
                                                    name=f"unixctl-{self.path.name}")
            writer = self._writer
        rid = next(self._ids)
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = (method, answer)
        try:
            writer.write(_request(method, params, rid))
            await writer.drain()
        except (OSError, RuntimeError) as exc:
            self._waiting.pop(rid, None)
            self._broken(writer, f"sending {method}: {exc}")
            raise OvsError(f"{self.path}: {method}: {exc}") from exc
        return answer

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder, buf, why = json.JSONDecoder(), "", "closed by ovs-vswitchd"
        text = codecs.getincrementaldecoder("utf-8")()  # a chunk may end mid-character
        try:
            while chunk := await reader.read(65536):
                buf += text.decode(chunk)
                while buf:
                    try:
                        reply, end = decoder.raw_decode(buf)
                    except json.JSONDecodeError:
                        break
                    buf = buf[end:].lstrip()
                    if not isinstance(reply, dict):
                        raise ValueError(f"a reply that is not a JSON object: {reply!r:.80}")
                    rid = reply.get("id")
                    waiting = self._waiting.pop(rid, None) if isinstance(rid, int) else None
                    if waiting is None or waiting[1].done():
                        continue
                    method, answer = waiting
                    try:
                        answer.set_result(_result(self.path, method, reply))
                    except OvsError as exc:
                        answer.set_exception(exc)
        except (OSError, ValueError) as exc:
            why = str(exc)
        self._broken(writer, why)

    def _broken(self, writer: asyncio.StreamWriter, why: str) -> None:
        """The connection `writer` is no more: closed, and what waits on it told."""
        writer.close()
        if self._writer is writer:
            self._writer = None
            for method, answer in self._waiting.values():
                if not answer.done():
                    answer.set_exception(OvsError(f"{self.path}: no reply to {method}: {why}"))
            self._waiting.clear()

    async def close(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reading
            self._reading = None
        if self._writer is not None:
            self._broken(self._writer, "connection closed")
