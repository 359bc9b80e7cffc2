"""A TCP relay on loopback that a test can cut and restore: a link fault between a
controller and a real switch, without killing either."""

from __future__ import annotations

import asyncio
import contextlib

from ctrl.targets.bmv2 import free_tcp_port


class CuttableRelay:
    """Listens on 127.0.0.1:`port` and relays every connection to `target` (HOST:PORT).
    `cut()` resets every open connection and refuses new ones until `restore()`."""

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self.target = (host, int(port))
        self.port = free_tcp_port()
        self.address = f"127.0.0.1:{self.port}"
        self.connections = 0
        self._open: set[asyncio.StreamWriter] = set()
        self._cut = False
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> CuttableRelay:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        self._cut = True
        for w in list(self._open):
            with contextlib.suppress(Exception):
                w.transport.abort()
        self._open.clear()

    def restore(self) -> None:
        self._cut = False

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.transport.abort()
            return
        try:
            up_r, up_w = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._open |= {writer, up_w}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pump(reader, up_w), pump(up_r, writer))
        self._open -= {writer, up_w}
