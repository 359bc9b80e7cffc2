from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctrl.targets.bmv2 import find_simple_switch_grpc
from ctrl.targets.ovs.dpdk import DpdkConfig
from tests.packet.ovs_target import dpdk_available, ovs_available, ovs_target
from tests.packet.targets import Target, bmv2_target

# ovs-dpdk: the OVS target on DPDK's datapath (Debian's openvswitch-switch-dpdk)
TARGETS = ["bmv2", "ovs", pytest.param("ovs-dpdk", marks=pytest.mark.dpdk)]


@pytest.fixture(scope="module", params=TARGETS)
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Target]:
    if os.geteuid() != 0:
        pytest.skip("packet tests need root (network namespaces and veth pairs)")
    if request.param == "bmv2":
        if find_simple_switch_grpc() is None:
            pytest.skip("bmv2 simple_switch_grpc is not on PATH: packet tests on bmv2 skipped")
        log_dir: Path = tmp_path_factory.mktemp("bmv2")
        with bmv2_target(log_dir) as t:
            yield t
    elif request.param == "ovs":
        if (why := ovs_available()) is not None:
            pytest.skip(f"packet tests on Open vSwitch skipped: {why}")
        with ovs_target(tmp_path_factory.mktemp("ovs")) as t:
            yield t
    elif request.param == "ovs-dpdk":
        if (why := dpdk_available()) is not None:
            pytest.skip(f"packet tests on OVS-DPDK skipped: {why}")
        with ovs_target(tmp_path_factory.mktemp("ovs-dpdk"), DpdkConfig()) as t:
            yield t
    else:
        raise AssertionError(f"no target {request.param}")


@pytest.fixture
def tgt(target: Target) -> Iterator[Target]:
    """The module's target, emptied of entries and with no frames pending."""
    target.switch.clear()
    target.switch.drain_packet_ins()
    target.dataplane.flush()
    yield target
