"""`ovs-appctl` without a process: one JSON-RPC call on ovs-vswitchd's unixctl socket."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from ctrl.targets.ovs.errors import OvsError


async def call(path: Path, method: str, *params: str, timeout: float = 10.0) -> str:
    """`ovs-appctl -t PATH METHOD PARAMS...`; returns the reply text."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        writer.write(json.dumps({"method": method, "params": list(params), "id": 0}).encode())
        await writer.drain()
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
