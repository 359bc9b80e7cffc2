"""The direct FLOW_MOD encoder (ctrl/targets/ovs/flowenc.py) writes the bytes the generic codec
writes of ctrl/targets/ovs/pipeline.py's flows, for every action of every table it covers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.p4rt.entity import TableEntry
from ctrl.p4rt.schema import P4Schema
from ctrl.targets.ovs import flowenc, pipeline
from ctrl.targets.ovs.flows import FlowMod, RawFlowMod
from ctrl.targets.ovs.ofcodec import encode_message

SCHEMA = P4Schema.load(BuildPaths(project_root()).p4info)
COVERED = ("bridging", "routing_v4", "my_station", "ingress_port")


@st.composite
def entries(draw: st.DrawFn, table_names: tuple[str, ...] = COVERED) -> TableEntry:
    table = SCHEMA.tables[draw(st.sampled_from(table_names))]
    refs = [r for r in table.action_refs if r.allowed_in_entries]
    act = draw(st.sampled_from(refs)).action

    def value(bits: int) -> int:
        edge = [0, 1, (1 << bits) - 1] + ([255] if bits == 9 else [])
        return draw(st.one_of(st.sampled_from(edge), st.integers(0, (1 << bits) - 1)))

    return TableEntry(table.name, {f.name: value(f.bitwidth) for f in table.match_fields},
                      act.name, {p.name: value(p.bitwidth) for p in act.params})


@settings(max_examples=500, deadline=None)
@given(entries(), st.integers(1, (1 << 64) - 1), st.integers(0, (1 << 32) - 1))
def test_adds_as_the_codec_writes_them(e: TableEntry, cookie: int, xid: int) -> None:
    fast, generic = flowenc.add_entry(e, cookie), pipeline.add_entry(e, cookie)
    assert all(isinstance(m, FlowMod) for m in generic)
    assert [encode_message(m, xid) for m in fast] == [encode_message(m, xid) for m in generic]


@settings(max_examples=200, deadline=None)
@given(entries(tuple(t.name for t in SCHEMA.tables)), st.integers(1, (1 << 64) - 1))
def test_deletes_as_the_codec_writes_them(e: TableEntry, cookie: int) -> None:
    fast, generic = flowenc.delete_entry(e, cookie), pipeline.delete_entry(e, cookie)
    assert all(isinstance(m, FlowMod) for m in generic)
    assert [encode_message(m, 7) for m in fast] == [encode_message(m, 7) for m in generic]


def test_the_common_entries_skip_flow_objects() -> None:
    e = TableEntry("bridging", {"vnet_id": 1, "eth_dst": 2}, "bridging.forward", {"port": 3})
    assert all(isinstance(m, RawFlowMod) for m in flowenc.add_entry(e, 1))
    flood = TableEntry("bridging", {"vnet_id": 1, "eth_dst": 2}, "bridging.flood",
                       {"group": 3})
    assert all(isinstance(m, FlowMod) for m in flowenc.add_entry(flood, 1))
