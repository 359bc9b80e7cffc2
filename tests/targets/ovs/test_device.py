"""Device.write on a real bridge: the megaflow purge is sent after each bundle that changed
flows, and the Write does not wait for its answer (issue 16, item 4), but on DPDK's datapath.

ovs-vswitchd's unixctl socket is swapped for one of the test's own, which takes the
requests and answers only when told: so the test sees what was asked, and when.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from ctrl.p4rt.entity import TableEntry
from ctrl.p4rt.proto import p4r
from ctrl.p4rt.schema import P4Schema
from ctrl.platform import netns
from ctrl.targets.ovs import unixctl
from ctrl.targets.ovs.device import Device
from ctrl.targets.ovs.target import BridgeSpec, running
from tests.packet.ovs_target import skip_without_ovs

pytestmark = pytest.mark.root


class _Unixctl:
    """A unixctl socket that keeps each request's method and answers once `answer` is set;
    `drop` ends its connections unanswered."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.asked: list[str] = []
        self.answer = asyncio.Event()
        self.answered = 0
        self.connections: list[asyncio.StreamWriter] = []
        self._replies: set[asyncio.Task[None]] = set()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.append(writer)
        decoder, buf = json.JSONDecoder(), ""
        while chunk := await reader.read(65536):
            buf += chunk.decode()
            while buf:
                try:
                    request, end = decoder.raw_decode(buf)
                except json.JSONDecodeError:
                    break
                buf = buf[end:]
                self.asked.append(request["method"])
                task = asyncio.create_task(self._reply(writer, request["id"], self.answer))
                self._replies.add(task)
                task.add_done_callback(self._replies.discard)

    async def _reply(self, writer: asyncio.StreamWriter, rid: int, answer: asyncio.Event
                     ) -> None:
        await answer.wait()
        if not writer.is_closing():
            writer.write(json.dumps({"id": rid, "result": "", "error": None}).encode())
            self.answered += 1

    def drop(self) -> None:
        for w in self.connections:
            w.close()


def _write(schema: P4Schema, *entries: TableEntry,
           kind: int = p4r.Update.INSERT) -> p4r.WriteRequest:
    req = p4r.WriteRequest(device_id=1)
    for e in entries:
        req.updates.add(type=kind).entity.table_entry.CopyFrom(e.encode(schema))
    return req


def _bridging(mac: int, port: int) -> TableEntry:
    return TableEntry("bridging", {"vnet_id": 10, "eth_dst": mac}, "bridging.forward",
                      {"port": port})


async def _drive(dev: Device, schema: P4Schema, ctl: _Unixctl) -> None:
    server = await asyncio.start_unix_server(ctl.serve, path=str(ctl.path))
    real_ctl = dev.vswitchd_ctl
    await dev.open()
    try:
        await dev.set_pipeline(schema, p4r.ForwardingPipelineConfig(p4info=schema.p4info))
        dev.vswitchd_ctl = ctl.path
        first = _bridging(0x020000000001, 1)
        plan = await asyncio.wait_for(dev.write(_write(schema, first), False), 10)
        assert plan.statuses[0][0] == 0
        # Answered before the purge was: and the purge was asked after the bundle.
        assert ctl.answered == 0
        async with asyncio.timeout(10):
            while len(ctl.asked) < 1:
                await asyncio.sleep(0.001)
        assert ctl.asked == ["revalidator/purge"]
        purged = asyncio.create_task(dev.purged())
        await asyncio.sleep(0.05)
        assert not purged.done()  # the answer is awaited, off the Write's way
        cookies = {st.cookie for st in await dev._connection().flow_stats()}
        assert plan.changes and all(s is not None and s.cookie in cookies
                                    for s in plan.changes.values())
        # A second Write while the first purge is unanswered sends its own, after its
        # own bundle: it does not count on the first.
        await asyncio.wait_for(dev.write(_write(schema, _bridging(0x020000000002, 2)),
                                         False), 10)
        async with asyncio.timeout(10):
            while len(ctl.asked) < 2:
                await asyncio.sleep(0.001)
        # A Write that changes no flow (the entry is there already: refused) purges nothing.
        again = await asyncio.wait_for(dev.write(_write(schema, first), False), 10)
        assert again.statuses[0][0] != 0
        ctl.answer.set()
        await asyncio.wait_for(purged, 10)
        await asyncio.wait_for(dev.purged(), 10)
        assert ctl.answered == 2 and ctl.asked == ["revalidator/purge"] * 2
        # On DPDK's datapath the answer waits for the purge's.
        dev.answer_after_purge, ctl.answer = True, asyncio.Event()
        write = asyncio.create_task(dev.write(_write(schema, _bridging(0x020000000003, 3)),
                                              False))
        async with asyncio.timeout(10):
            while len(ctl.asked) < 3:
                await asyncio.sleep(0.001)
        await asyncio.sleep(0.05)
        assert not write.done()
        ctl.answer.set()
        await asyncio.wait_for(write, 10)
        assert ctl.answered == 3
        dev.answer_after_purge = False
        assert len(ctl.connections) == 1  # one connection kept for every purge
        # The connection breaks with a purge unanswered: that purge is done with, and the
        # next one goes on a new connection.
        ctl.answer = asyncio.Event()
        await asyncio.wait_for(dev.write(_write(schema, _bridging(0x020000000004, 4)),
                                         False), 10)
        async with asyncio.timeout(10):
            while len(ctl.asked) < 4:
                await asyncio.sleep(0.001)
        ctl.drop()
        await asyncio.wait_for(dev.purged(), 10)
        ctl.answer.set()
        await asyncio.wait_for(dev.write(_write(schema, _bridging(0x020000000005, 5)),
                                         False), 10)
        await asyncio.wait_for(dev.purged(), 10)
        assert len(ctl.connections) == 2 and ctl.answered == 4 and len(ctl.asked) == 5
        # The real ovs-vswitchd answers requests on one connection, in order; and its
        # purge as well (close waits for it).
        assert real_ctl is not None
        kept = unixctl.Connection(real_ctl)
        answers = [await kept.send("version"), await kept.send("revalidator/purge")]
        got = await asyncio.wait_for(asyncio.gather(*answers), 10)
        assert "Open vSwitch" in got[0] and got[1] == ""
        await kept.close()
        dev.vswitchd_ctl = real_ctl
        await asyncio.wait_for(dev.write(_write(schema, first, kind=p4r.Update.DELETE),
                                         False), 10)
    finally:
        ctl.answer.set()
        dev.vswitchd_ctl = real_ctl
        await dev.close()
        server.close()
        await server.wait_closed()
    assert not dev._purges


def test_write_answers_before_the_purge_does(tmp_path: Path, schema: P4Schema) -> None:
    skip_without_ovs()
    uid = os.getpid() % 100000
    with netns.scratch_netns(f"dv{uid}") as ns, running(
            tmp_path / "ovs", [BridgeSpec(f"dv{uid}", 1, netns=ns, gre=False)]) as devices:
        assert not devices[1].answer_after_purge  # the netdev datapath's way
        asyncio.run(_drive(devices[1], schema, _Unixctl(tmp_path / "fake.ctl")))
