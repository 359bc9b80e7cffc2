"""finsy 0.30 (a maintained P4Runtime controller library) against the OVS target: it must
recognize the fresh switch, push the pipeline, write, read, count, send and receive
packets, see a duplicate refused and delete, as it does against bmv2 and Stratum.
finsy runs in a virtualenv of its own (`./run setup` makes .venv-finsy), as a
subprocess driving finsy_drive.py."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ctrl.p4rt.schema import P4Schema
from ctrl.platform import netns
from ctrl.targets.ovs.target import BridgeSpec, serving
from tests.packet.ovs_target import skip_without_ovs
from tests.targets.ovs.rpc import PATHS

pytestmark = pytest.mark.root

SCRIPT = Path(__file__).with_name("finsy_drive.py")


def finsy_python() -> Path | None:
    path = Path(os.environ.get("FINSY_PYTHON", PATHS.root / ".venv-finsy" / "bin" / "python"))
    return path if path.exists() else None


def test_finsy_drives_a_fresh_ovs_target(tmp_path: Path, schema: P4Schema) -> None:
    python = finsy_python()
    if python is None:
        pytest.skip("no finsy virtualenv: `./run setup` makes .venv-finsy")
    skip_without_ovs()
    uid = os.getpid() % 100000
    with netns.scratch_netns(f"fy{uid}") as ns:
        a, b = f"fy{uid}a", f"fy{uid}b"
        netns.add_veth(a, b, ns=ns, peer_ns=ns)  # port 1 to port 2: out of one, in the other
        for end in (a, b):
            netns.set_offloads(end, ns, tx=False)
        spec = BridgeSpec(f"fyb{uid}", 1, {1: a, 2: b}, netns=ns)
        with serving(tmp_path / "ovs", [spec], schema) as target:
            proc = subprocess.run([str(python), str(SCRIPT), target.address,
                                   str(PATHS.p4info), str(PATHS.json)],
                                  capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["primary"] is True
    assert (seen["read"], seen["read_same"]) == (1000, True)
    assert seen["direct_counters"] == 1000
    assert seen["direct_counter_tables"] == ["bridging"]
    assert seen["one_counter"] == [[0x020000100000, 0]]  # its eth_dst, no packet yet
    assert seen["packet_in"] == {"same_payload": True, "ingress_port": 2, "reason": 1}
    assert seen["punt_packets"] >= 1
    assert seen["duplicate"] == ["ALREADY_EXISTS"]
    assert seen["after_delete"] == 0
