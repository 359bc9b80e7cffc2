"""The generated P4Runtime modules (proto/generate.py, run by the install): protobuf's C
core, and the pinned release's schema."""

from __future__ import annotations

import pytest
from google.protobuf.internal import api_implementation

from ctrl.p4rt.proto import p4i, p4r


def test_protobuf_runs_on_upb() -> None:
    assert api_implementation.Type() == "upb"


def test_the_schema_is_p4runtime_1_4_1() -> None:
    # 1.4 has Replica.port (bytes) beside egress_port; 1.5 added backup_replicas.
    fields = {f.name for f in p4r.Replica.DESCRIPTOR.fields}
    assert {"egress_port", "port", "instance"} <= fields and "backup_replicas" not in fields
    assert p4r.DESCRIPTOR.name == "p4/v1/p4runtime.proto"
    assert p4i.P4Info.DESCRIPTOR.full_name == "p4.config.v1.P4Info"


def test_embedded_descriptors_are_found_in_both_forms() -> None:
    import sys

    from ctrl.p4rt.build import project_root

    sys.path.insert(0, str(project_root() / "proto"))
    try:
        import generate
    finally:
        sys.path.pop(0)
    old = "D = _descriptor.FileDescriptor(name='x.proto', serialized_pb=b'\\n\\x07x.proto')"
    new = "D = _descriptor_pool.Default().AddSerializedFile(b'\\n\\x07x.proto')"
    assert generate.embedded_descriptor(old, "old") == b"\n\x07x.proto"
    assert generate.embedded_descriptor(new, "new") == b"\n\x07x.proto"
    with pytest.raises(generate.GenerateError, match="no embedded file descriptor"):
        generate.embedded_descriptor("x = 1", "none")
