"""OpenFlow flows and groups as plain values: what the pipeline computes, what the codec sends.

Matches name their fields (see `ctrl.targets.ovs.openflow.OXM_FIELDS`); actions are small
frozen dataclasses. Nothing here does I/O, so a fake flow table (tests) and the
wire codec read the same objects.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

Match = tuple[tuple[str, int, int | None], ...]  # (field, value, mask or None)

OFPP_IN_PORT = 0xFFFFFFF8
OFPP_CONTROLLER = 0xFFFFFFFD
OFPP_ANY = 0xFFFFFFFF
OFPP_LOCAL = 0xFFFFFFFE


@dataclass(frozen=True, slots=True)
class Output:
    port: int


@dataclass(frozen=True, slots=True)
class OutputReg:
    """NXAST_OUTPUT_REG: out of the port held in `reg`."""

    reg: str


@dataclass(frozen=True, slots=True)
class Controller:
    """Output to OFPP_CONTROLLER with the whole frame (no buffering)."""


@dataclass(frozen=True, slots=True)
class Group:
    group_id: int


@dataclass(frozen=True, slots=True)
class SetField:
    field: str
    value: int


@dataclass(frozen=True, slots=True)
class Move:
    """NXAST_REG_MOVE: src[src_ofs : src_ofs+n_bits] -> dst[dst_ofs : ...]."""

    src: str
    dst: str
    n_bits: int
    src_ofs: int = 0
    dst_ofs: int = 0


@dataclass(frozen=True, slots=True)
class PushVlan:
    ethertype: int = 0x8100


@dataclass(frozen=True, slots=True)
class PopVlan:
    pass


@dataclass(frozen=True, slots=True)
class DecTtl:
    pass


@dataclass(frozen=True, slots=True)
class Resubmit:
    """NXAST_RESUBMIT_TABLE: run `table` now, then carry on here."""

    table: int


Action = Output | OutputReg | Controller | Group | SetField | Move | PushVlan | PopVlan | \
    DecTtl | Resubmit


@dataclass(frozen=True, slots=True)
class Flow:
    table: int
    priority: int
    match: Match = ()
    actions: tuple[Action, ...] = ()
    goto: int | None = None  # OFPIT_GOTO_TABLE after the actions
    cookie: int = 0


def match(**fields: int | tuple[int, int]) -> Match:
    """match(eth_type=0x800, reg1=(2, 3)): a Match in a stable order."""
    out: list[tuple[str, int, int | None]] = []
    for name, v in fields.items():
        if isinstance(v, tuple):
            out.append((name, v[0], v[1]))
        else:
            out.append((name, v, None))
    return tuple(out)


class FlowCommand(enum.IntEnum):
    ADD = 0
    DELETE = 3  # by cookie (all flows of one P4 entry)


@dataclass(frozen=True, slots=True)
class FlowMod:
    command: FlowCommand
    flow: Flow
    cookie_mask: int = 0  # DELETE: flows whose cookie matches flow.cookie under this mask


class GroupCommand(enum.IntEnum):
    ADD = 0
    MODIFY = 1
    DELETE = 2
    ADD_OR_MOD = 0x8000  # OVS's OFPGC11_ADD_OR_MOD (ovs-ofctl mod-group --may-create)


@dataclass(frozen=True, slots=True)
class GroupMod:
    command: GroupCommand
    group_id: int
    buckets: tuple[tuple[Action, ...], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class RawFlowMod:
    """A FLOW_MOD encoded already: its body after the OpenFlow header (ctrl.targets.ovs.flowenc
    writes the common entries so, the bytes the codec makes of their Flows)."""

    body: bytes


Message = FlowMod | GroupMod | RawFlowMod
