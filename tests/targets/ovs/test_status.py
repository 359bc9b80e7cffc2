"""A batch Write's google.rpc.Status (ctrl/targets/ovs/status.py): the bytes protobuf writes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ctrl.p4rt.proto import p4r, rpc_code, rpc_status
from ctrl.targets.ovs.status import batch_status

CODES = st.sampled_from([rpc_code.OK, rpc_code.ALREADY_EXISTS, rpc_code.NOT_FOUND,
                         rpc_code.INVALID_ARGUMENT, rpc_code.ABORTED, rpc_code.INTERNAL])
MESSAGES = st.sampled_from(["", "bridging: entry exists", "ρόλος " * 40, "x" * 300])


@given(st.lists(st.tuples(CODES, MESSAGES), max_size=40))
def test_the_bytes_protobuf_writes(statuses: list[tuple[int, str]]) -> None:
    want = rpc_status.Status(code=rpc_code.UNKNOWN, message="batch write had errors")
    for code, message in statuses:
        want.details.add().Pack(p4r.Error(canonical_code=code, message=message))
    assert batch_status(statuses) == want.SerializeToString()
