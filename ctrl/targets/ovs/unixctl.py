"""`ovs-appctl` without a process: one JSON-RPC call on ovs-vswitchd's unixctl socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from pathlib import Path

from ctrl.targets.ovs.errors import OvsError


async def call(path: Path, method: str, *params: str, timeout: float = 10.0) -> str:
    """`ovs-appctl -t PATH METHOD PARAMS...`; returns the reply text."""
    return await (await send(path, method, *params, timeout=timeout))


async def send(path: Path, method: str, *params: str, timeout: float = 10.0
               ) -> Awaitable[str]:
    """`call`, in two halves: returns once the request is in ovs-vswitchd's socket (its
    main loop takes it in order after whatever it was given before), with the reply to
    await; that closes the connection, and must be awaited (or the connection leaks)."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        writer.write(json.dumps({"method": method, "params": list(params), "id": 0}).encode())
        await writer.drain()
    except BaseException:
        writer.close()
        raise
    return _reply(path, method, reader, writer, timeout)


async def _reply(path: Path, method: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, timeout: float) -> str:
    try:
        decoder, buf = json.JSONDecoder(), ""
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), timeout)
            if not chunk:
                raise OvsError(f"{path}: connection closed before the reply to {method}")
            buf += chunk.decode()
            try:
                reply, _ = decoder.raw_decode(buf)
            except json.JSONDecodeError:
                continue
            if reply.get("error"):
                raise OvsError(f"{path}: {method}: {reply['error']}")
            return str(reply.get("result", ""))
    finally:
        writer.close()
