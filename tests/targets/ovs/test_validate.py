"""Multicast groups as the OVS target takes them (ctrl/targets/ovs/validate.py): a
replica's instance is v1model's 16-bit egress_rid, the id of the tunnel a copy goes into."""

from __future__ import annotations

import pytest

from ctrl.p4rt.entity import MulticastGroupEntry, Replica
from ctrl.p4rt.proto import rpc_code
from ctrl.targets.ovs.validate import Rejected, parse_group


def test_replicas_with_instances_are_taken_as_they_are() -> None:
    group = MulticastGroupEntry(5, (Replica(2), Replica(9, 1), Replica(9, 0xFFFF)))
    assert parse_group(group.encode()) == group


@pytest.mark.parametrize(("replicas", "code", "words"), [
    ((Replica(9, 1 << 16),), rpc_code.OUT_OF_RANGE, "instance 65536 does not fit in 16"),
    ((Replica(512),), rpc_code.OUT_OF_RANGE, "port 512 does not fit in 9"),
    ((Replica(9, 3), Replica(9, 3)), rpc_code.INVALID_ARGUMENT, "given twice"),
])
def test_replicas_beyond_the_pipeline_are_refused(replicas: tuple[Replica, ...], code: int,
                                                  words: str) -> None:
    with pytest.raises(Rejected, match=words) as exc:
        parse_group(MulticastGroupEntry(5, replicas).encode())
    assert exc.value.code == code
