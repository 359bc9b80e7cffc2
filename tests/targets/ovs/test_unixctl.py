"""The unixctl client's one reader of replies, against a unix socket server of this test's
own that answers as ovs-vswitchd does (JSON-RPC objects, back to back, in any chunking);
against the real ovs-vswitchd in test_device.py, test_underlay.py and test_supervise.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from ctrl.targets.ovs import unixctl
from ctrl.targets.ovs.errors import OvsError

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _with_server(path: Path, serve: Serve, body: Callable[[], Awaitable[str]]) -> str:
    server = await asyncio.start_unix_server(serve, str(path))
    try:
        return await body()
    finally:
        server.close()
        await server.wait_closed()


async def _request(reader: asyncio.StreamReader) -> dict[str, object]:
    got = json.loads((await reader.readuntil(b"}")).decode())
    assert isinstance(got, dict)
    return got


def test_a_reply_split_inside_a_character_reads_whole(tmp_path: Path) -> None:
    sock = tmp_path / "ctl"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        rid = (await _request(reader))["id"]
        reply = json.dumps({"result": "brücke ok", "id": rid}, ensure_ascii=False).encode()
        cut = reply.index("ü".encode()) + 1  # the chunk ends in the middle of "ü"
        for part in (reply[:cut], reply[cut:]):
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.close()

    got = asyncio.run(_with_server(sock, serve, lambda: unixctl.call(sock, "version")))
    assert got == "brücke ok"


def test_an_error_reply_is_an_ovs_error(tmp_path: Path) -> None:
    sock = tmp_path / "ctl"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        rid = (await _request(reader))["id"]
        writer.write(json.dumps({"error": "unknown command", "id": rid}).encode())
        await writer.drain()
        writer.close()

    with pytest.raises(OvsError, match="nope: unknown command"):
        asyncio.run(_with_server(sock, serve, lambda: unixctl.call(sock, "nope")))


def test_closed_before_the_reply_is_an_ovs_error(tmp_path: Path) -> None:
    sock = tmp_path / "ctl"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.close()

    with pytest.raises(OvsError, match="no reply to version"):
        asyncio.run(_with_server(sock, serve, lambda: unixctl.call(sock, "version")))


def test_no_reply_times_out(tmp_path: Path) -> None:
    sock = tmp_path / "ctl"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        await asyncio.sleep(5)

    with pytest.raises(TimeoutError):
        asyncio.run(_with_server(sock, serve,
                                 lambda: unixctl.call(sock, "version", timeout=0.3)))


def test_no_socket_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        asyncio.run(unixctl.call(tmp_path / "absent", "version"))


def test_a_reply_that_is_not_an_object_fails_the_call_at_once(tmp_path: Path) -> None:
    sock = tmp_path / "ctl"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(b'["not", "an", "object"]')
        await writer.drain()
        await asyncio.sleep(5)   # and the connection stays open

    async def body() -> str:
        return await unixctl.call(sock, "version", timeout=4.0)

    with pytest.raises(OvsError, match="not a JSON object"):
        asyncio.run(_with_server(sock, serve, body))
