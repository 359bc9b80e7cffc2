"""An asyncio OpenFlow 1.4 connection to a bridge's management socket.

Requests are matched to replies by xid. Messages without a reply (PACKET_OUT)
are settled by the next BARRIER reply, or by an ERROR with their xid. `apply()`
sends a batch in one atomic, ordered bundle, written at once, its messages on
consecutive xids (an ERROR in that range names the message it refuses), and
returns once the commit is acknowledged and a barrier has passed: the flows are
live when it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

from ctrl.targets.ovs import ofcodec as oc
from ctrl.targets.ovs.errors import OpenFlowError
from ctrl.targets.ovs.flows import OFPP_CONTROLLER, Action, Message

log = logging.getLogger(__name__)

PacketInHandler = Callable[[oc.PacketIn], None]


class BatchError(OpenFlowError):
    """A bundle that the switch refused; `failed` maps message index -> error."""

    def __init__(self, message: str, failed: dict[int, OpenFlowError]) -> None:
        super().__init__(message)
        self.failed = failed


class OpenFlowConnection:
    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name
        self._xids = itertools.count(1)
        # first xid of a bundle being applied -> (its message count, errors by index)
        self._bundles: dict[int, tuple[int, dict[int, OpenFlowError]]] = {}
        self._bundle_ids = itertools.count(1)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        # xid -> (future, wants_reply); insertion order is send order
        self._pending: dict[int, tuple[asyncio.Future[bytes | None], bool]] = {}
        self._multipart: dict[int, list[bytes]] = {}
        self.on_packet_in: PacketInHandler | None = None
        # Told when the switch ends the connection (ovs-vswitchd gone), not on close().
        self.on_lost: Callable[[], None] | None = None

    @property
    def is_open(self) -> bool:
        return self._task is not None and not self._task.done()

    async def open(self, timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                self._reader, self._writer = await asyncio.open_unix_connection(
                    str(self.path), limit=1 << 24)
                break
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                if asyncio.get_running_loop().time() > deadline:
                    raise OpenFlowError(f"bridge {self.name}: cannot connect to {self.path}: "
                                        f"{exc}") from exc
                await asyncio.sleep(0.05)
        self._writer.write(oc.message(oc.OFPT_HELLO, next(self._xids)))
        self._task = asyncio.create_task(self._read_loop(), name=f"openflow-{self.name}")
        self._writer.write(oc.encode_set_async_all_packet_ins(next(self._xids)))
        await self.barrier()
        log.info("bridge %s: OpenFlow 1.4 connection up on %s", self.name, self.path)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None
        self._fail_all(OpenFlowError(f"bridge {self.name}: connection closed"))

    def _fail_all(self, exc: Exception) -> None:
        for fut, _ in self._pending.values():
            if not fut.done():
                fut.set_exception(exc)
        self._pending.clear()

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                hdr = await self._reader.readexactly(8)
                _version, mtype, length, xid = struct.unpack("!BBHI", hdr)
                body = await self._reader.readexactly(length - 8)
                self._dispatch(mtype, xid, hdr + body)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            log.warning("bridge %s: OpenFlow connection lost: %s", self.name, exc)
            if self._writer is not None:   # what is sent now fails at once: not connected
                self._writer.close()
                self._writer = None
            self._fail_all(OpenFlowError(f"bridge {self.name}: connection lost"))
            if self.on_lost is not None:
                self.on_lost()

    def _dispatch(self, mtype: int, xid: int, msg: bytes) -> None:
        if mtype == oc.OFPT_ECHO_REQUEST:
            assert self._writer is not None
            self._writer.write(oc.message(oc.OFPT_ECHO_REPLY, xid, msg[8:]))
            return
        if mtype == oc.OFPT_PACKET_IN:
            if self.on_packet_in is not None:
                try:
                    self.on_packet_in(oc.decode_packet_in(msg))
                except Exception:
                    log.exception("bridge %s: packet-in handler failed", self.name)
            return
        if mtype == oc.OFPT_MULTIPART_REPLY:
            (flags,) = struct.unpack_from("!H", msg, 10)
            self._multipart.setdefault(xid, []).append(msg[16:])
            if flags & oc.OFPMPF_REPLY_MORE:
                return
            msg = b"".join(self._multipart.pop(xid))
        entry = self._pending.pop(xid, None)
        if entry is None:
            if mtype == oc.OFPT_ERROR and not self._bundle_error(xid, msg):
                log.warning("bridge %s: unsolicited %s", self.name, oc.decode_error(msg))
            return
        fut, _ = entry
        if mtype == oc.OFPT_ERROR:
            if not fut.done():
                fut.set_exception(oc.decode_error(msg))
            return
        if not fut.done():
            fut.set_result(msg)
        if mtype == oc.OFPT_BARRIER_REPLY:
            # Everything sent before the barrier has been processed.
            for other in [x for x, (_, wants) in self._pending.items() if x < xid and not wants]:
                f, _ = self._pending.pop(other)
                if not f.done():
                    f.set_result(None)

    def _bundle_error(self, xid: int, msg: bytes) -> bool:
        for first, (count, failed) in self._bundles.items():
            if first <= xid < first + count:
                failed[xid - first] = oc.decode_error(msg)
                return True
        return False

    def _send(self, build: Callable[[int], bytes], wants_reply: bool
              ) -> tuple[int, asyncio.Future[bytes | None]]:
        if self._writer is None:
            raise OpenFlowError(f"bridge {self.name}: not connected")
        xid = next(self._xids)
        fut: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._pending[xid] = (fut, wants_reply)
        self._writer.write(build(xid))
        return xid, fut

    async def request(self, build: Callable[[int], bytes]) -> bytes:
        _, fut = self._send(build, True)
        assert self._writer is not None
        await self._writer.drain()
        got = await fut
        assert got is not None
        return got

    async def barrier(self) -> None:
        await self.request(lambda x: oc.message(oc.OFPT_BARRIER_REQUEST, x))

    async def apply(self, messages: Sequence[Message]) -> None:
        """Send `messages` as one atomic, ordered bundle; return once they are live.

        Open, the messages, commit and a barrier go in one write: OVS takes them in
        order, so one round trip does (a refused open makes the rest refused too)."""
        if not messages:
            return
        if self._writer is None:
            raise OpenFlowError(f"bridge {self.name}: not connected")
        bundle = next(self._bundle_ids) & 0xFFFFFFFF
        _, opened = self._send(
            lambda x: oc.encode_bundle_control(bundle, oc.OFPBCT_OPEN_REQUEST, x), True)
        first = next(self._xids)
        self._xids = itertools.count(first + len(messages))
        failed: dict[int, OpenFlowError] = {}
        self._bundles[first] = (len(messages), failed)
        try:
            self._writer.write(oc.encode_bundle(bundle, messages, first))
            _, committed = self._send(
                lambda x: oc.encode_bundle_control(bundle, oc.OFPBCT_COMMIT_REQUEST, x), True)
            _, barrier = self._send(lambda x: oc.message(oc.OFPT_BARRIER_REQUEST, x), True)
            await self._writer.drain()
            done = await asyncio.gather(opened, committed, barrier, return_exceptions=True)
        finally:
            del self._bundles[first]
        for outcome in done:
            if isinstance(outcome, BaseException) and not isinstance(outcome, OpenFlowError):
                raise outcome  # the connection failed, or we were cancelled
        refused = next((o for o in done if isinstance(o, OpenFlowError)), None)
        if refused is not None or failed:
            raise BatchError(f"bridge {self.name}: bundle of {len(messages)} messages refused: "
                             f"{refused or next(iter(failed.values()))}", dict(failed))

    async def packet_out(self, actions: tuple[Action, ...], data: bytes,
                         in_port: int = OFPP_CONTROLLER) -> None:
        _, fut = self._send(lambda x: oc.encode_packet_out(in_port, actions, data, x), False)
        await self.barrier()
        if fut.done() and fut.exception() is not None:
            raise fut.exception()  # type: ignore[misc]

    async def flow_stats(self) -> list[oc.FlowStats]:
        body = await self.request(lambda x: oc.encode_flow_stats_request(x))
        return oc.decode_flow_stats(body)
