"""The OpenFlow connection against a real ovs-vswitchd: a bundle written at once is live
when apply() returns, and a message OVS refuses is named by its index."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from ctrl.p4rt.entity import TableEntry
from ctrl.platform import netns
from ctrl.targets.ovs import flowenc, pipeline
from ctrl.targets.ovs.device import Device
from ctrl.targets.ovs.flows import Flow, FlowCommand, FlowMod, Group, Message
from ctrl.targets.ovs.openflow import BatchError, OpenFlowConnection
from ctrl.targets.ovs.target import BridgeSpec, running
from tests.packet.ovs_target import ovs_available

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Device]:
    if os.geteuid() != 0:
        pytest.skip("needs root to run ovs-vswitchd")
    if (why := ovs_available()) is not None:
        pytest.skip(why)
    uid = os.getpid() % 100000
    with netns.scratch_netns(f"oft{uid}") as ns, running(
            Path(tmp_path_factory.mktemp("ovsof")),
            [BridgeSpec(f"oft{uid}", 1, netns=ns, gre=False)]) as devices:
        yield devices[1]


def _entry(i: int) -> TableEntry:
    return TableEntry("bridging", {"vnet_id": 1, "eth_dst": 0x0200_0000_0000 + i},
                      "bridging.forward", {"port": 1 + i % 8})


async def _apply_and_count(dev: Device, messages: Sequence[Message]
                           ) -> tuple[int, dict[int, str]]:
    conn = OpenFlowConnection(dev.mgmt_socket, dev.bridge)
    await conn.open()
    try:
        await conn.apply(pipeline.base_flows())
        failed: dict[int, str] = {}
        try:
            await conn.apply(messages)
        except BatchError as exc:
            failed = {i: str(e) for i, e in exc.failed.items()}
        stats = await conn.flow_stats()
        return sum(1 for s in stats if s.table == pipeline.T_BRIDGING and s.cookie), failed
    finally:
        await conn.close()


def test_a_bundle_is_live_when_apply_returns(device: Device) -> None:
    messages: list[Message] = [m for i in range(3000) for m in flowenc.add_entry(_entry(i), i + 1)]
    count, failed = asyncio.run(_apply_and_count(device, messages))
    assert (count, failed) == (3000, {})


def test_a_refused_message_is_named_by_its_index(device: Device) -> None:
    to_no_group = FlowMod(FlowCommand.ADD, Flow(pipeline.T_BRIDGING, 100, (), (Group(99),),
                                                cookie=9999))
    messages: list[Message] = [*flowenc.add_entry(_entry(1), 1), *flowenc.add_entry(_entry(2), 2),
                to_no_group, *flowenc.add_entry(_entry(3), 3)]
    count, failed = asyncio.run(_apply_and_count(device, messages))
    assert list(failed) == [2] and "OpenFlow error" in failed[2]
    assert count == 0  # atomic: none of the bundle is applied
