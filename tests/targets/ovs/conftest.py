"""A P4Runtime server of the OVS target per test module (two bridges, devices 1 and 2,
in a namespace of their own), a stub on it, and a primary that set the pipeline."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from ctrl.p4rt.proto import p4r, p4r_grpc, rpc_code
from ctrl.p4rt.schema import P4Schema
from ctrl.platform import netns
from ctrl.targets.ovs.target import BridgeSpec, serving
from tests.packet.ovs_target import skip_without_ovs
from tests.targets.ovs.rpc import PATHS, Stream


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, schema: P4Schema) -> Iterator[str]:
    skip_without_ovs()
    uid = os.getpid() % 100000
    # A namespace of its own: two userspace ovs-vswitchd in one namespace fight over the
    # datapath's tap device (ovs-netdev).
    with netns.scratch_netns(f"rps{uid}") as ns:
        specs = [BridgeSpec(f"rpa{uid}", 1, netns=ns), BridgeSpec(f"rpb{uid}", 2, netns=ns,
                                                                  gre=False)]
        with serving(Path(tmp_path_factory.mktemp("ovsrpc")), specs, schema) as target:
            yield target.address


@pytest.fixture
def stub(server: str) -> Iterator[p4r_grpc.P4RuntimeStub]:
    channel = grpc.insecure_channel(server)
    yield p4r_grpc.P4RuntimeStub(channel)
    channel.close()


@pytest.fixture
def primary(stub: p4r_grpc.P4RuntimeStub, schema: P4Schema) -> Iterator[Stream]:
    s = Stream(stub)
    assert s.arbitrate(1, 10).arbitration.status.code == rpc_code.OK
    stub.SetForwardingPipelineConfig(p4r.SetForwardingPipelineConfigRequest(
        device_id=1, election_id=p4r.Uint128(low=10),
        action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT,
        config=p4r.ForwardingPipelineConfig(p4info=schema.p4info,
                                            p4_device_config=PATHS.json.read_bytes())))
    yield s
    s.close()
