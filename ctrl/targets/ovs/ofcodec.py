"""A minimal OpenFlow 1.4 codec with the Nicira extensions the pipeline needs.

Encodes FLOW_MOD, GROUP_MOD, PACKET_OUT, BARRIER, BUNDLE_CONTROL / ADD_MESSAGE,
flow-stats MULTIPART and SET_ASYNC; decodes PACKET_IN (with its OXM match:
in_port and registers), ERROR and flow-stats replies. Pure: bytes in, bytes out.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from ctrl.targets.ovs.errors import OpenFlowError
from ctrl.targets.ovs.flows import (
    OFPP_ANY,
    OFPP_CONTROLLER,
    Action,
    Controller,
    DecTtl,
    Flow,
    FlowCommand,
    FlowMod,
    Group,
    GroupMod,
    Match,
    Message,
    Move,
    Output,
    OutputReg,
    PopVlan,
    PushVlan,
    RawFlowMod,
    Resubmit,
    SetField,
)

VERSION = 0x05  # OpenFlow 1.4

OFPT_HELLO, OFPT_ERROR, OFPT_ECHO_REQUEST, OFPT_ECHO_REPLY = 0, 1, 2, 3
OFPT_FEATURES_REQUEST, OFPT_FEATURES_REPLY = 5, 6
OFPT_PACKET_IN, OFPT_PACKET_OUT, OFPT_FLOW_MOD, OFPT_GROUP_MOD = 10, 13, 14, 15
OFPT_MULTIPART_REQUEST, OFPT_MULTIPART_REPLY = 18, 19
OFPT_BARRIER_REQUEST, OFPT_BARRIER_REPLY = 20, 21
OFPT_SET_ASYNC = 28
OFPT_BUNDLE_CONTROL, OFPT_BUNDLE_ADD_MESSAGE = 33, 34

OFPBCT_OPEN_REQUEST, OFPBCT_OPEN_REPLY = 0, 1
OFPBCT_COMMIT_REQUEST, OFPBCT_COMMIT_REPLY = 4, 5
OFPBCT_DISCARD_REQUEST = 6
OFPBF_ATOMIC, OFPBF_ORDERED = 1, 2

OFPMP_FLOW = 1
OFPMPF_REPLY_MORE = 1
OFPTT_ALL = 0xFF
OFPG_ANY = 0xFFFFFFFF
OFP_NO_BUFFER = 0xFFFFFFFF
OFPCML_NO_BUFFER = 0xFFFF

NX_VENDOR = 0x00002320
NXAST_REG_MOVE, NXAST_RESUBMIT_TABLE, NXAST_OUTPUT_REG = 6, 14, 15

_HDR = struct.Struct("!BBHI")

# name -> (oxm class, field, byte length)
OXM_FIELDS: dict[str, tuple[int, int, int]] = {
    "in_port": (0x8000, 0, 4),
    "nx_in_port": (0x0000, 0, 2),  # NXM_OF_IN_PORT: the 16-bit in_port a REG_MOVE can write
    "eth_dst": (0x8000, 3, 6),
    "eth_src": (0x8000, 4, 6),
    "eth_type": (0x8000, 5, 2),
    "vlan_vid": (0x8000, 6, 2),
    "ip_proto": (0x8000, 10, 1),
    "ipv4_src": (0x8000, 11, 4),
    "ipv4_dst": (0x8000, 12, 4),
    "udp_dst": (0x8000, 16, 2),
    "tun_id": (0x0001, 16, 8),
    "ip_frag": (0x0001, 26, 1),
    "ip_ttl": (0x0001, 29, 1),
    "tun_ipv4_src": (0x0001, 31, 4),
    "tun_ipv4_dst": (0x0001, 32, 4),
    **{f"reg{i}": (0x0001, i, 4) for i in range(8)},
}
_OXM_BY_KEY = {(c, f): (name, n) for name, (c, f, n) in OXM_FIELDS.items()}


def header(msg_type: int, length: int, xid: int) -> bytes:
    return _HDR.pack(VERSION, msg_type, length, xid)


def message(msg_type: int, xid: int, body: bytes = b"") -> bytes:
    return header(msg_type, 8 + len(body), xid) + body


def _pad8(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 8)


def oxm_header(name: str, masked: bool = False) -> int:
    try:
        cls, fld, size = OXM_FIELDS[name]
    except KeyError:
        raise OpenFlowError(f"no OXM field {name!r}") from None
    return (cls << 16) | (fld << 9) | (int(masked) << 8) | (size * 2 if masked else size)


def encode_oxm(name: str, value: int, mask: int | None = None) -> bytes:
    size = OXM_FIELDS[name][2]
    out = struct.pack("!I", oxm_header(name, mask is not None)) + value.to_bytes(size, "big")
    if mask is not None:
        out += mask.to_bytes(size, "big")
    return out


def encode_match(m: Match) -> bytes:
    body = b"".join(encode_oxm(n, v, mk) for n, v, mk in m)
    return _pad8(struct.pack("!HH", 1, 4 + len(body)) + body)


def decode_match(data: bytes, offset: int) -> tuple[dict[str, int], int]:
    """The OXM fields of an ofp_match at `offset`, and the offset just past it (padded)."""
    _mtype, length = struct.unpack_from("!HH", data, offset)
    fields: dict[str, int] = {}
    pos, end = offset + 4, offset + length
    while pos + 4 <= end:
        (hdr,) = struct.unpack_from("!I", data, pos)
        size = hdr & 0xFF
        known = _OXM_BY_KEY.get((hdr >> 16, (hdr >> 9) & 0x7F))
        if known is not None and not hdr & 0x100:
            fields[known[0]] = int.from_bytes(data[pos + 4:pos + 4 + size], "big")
        pos += 4 + size
    return fields, offset + length + (-length % 8)


def _nx(subtype: int, body: bytes) -> bytes:
    raw = struct.pack("!HHIH", 0xFFFF, 0, NX_VENDOR, subtype) + body
    raw = _pad8(raw)
    return raw[:2] + struct.pack("!H", len(raw)) + raw[4:]


def encode_action(a: Action) -> bytes:
    if isinstance(a, Output):
        return struct.pack("!HHIH6x", 0, 16, a.port, OFPCML_NO_BUFFER)
    if isinstance(a, Controller):
        return struct.pack("!HHIH6x", 0, 16, OFPP_CONTROLLER, OFPCML_NO_BUFFER)
    if isinstance(a, Group):
        return struct.pack("!HHI", 22, 8, a.group_id)
    if isinstance(a, PushVlan):
        return struct.pack("!HHH2x", 17, 8, a.ethertype)
    if isinstance(a, PopVlan):
        return struct.pack("!HH4x", 18, 8)
    if isinstance(a, DecTtl):
        return struct.pack("!HH4x", 24, 8)
    if isinstance(a, SetField):
        body = struct.pack("!HH", 25, 0) + encode_oxm(a.field, a.value)
        body = _pad8(body)
        return body[:2] + struct.pack("!H", len(body)) + body[4:]
    if isinstance(a, Move):
        return _nx(NXAST_REG_MOVE, struct.pack("!HHHII", a.n_bits, a.src_ofs, a.dst_ofs,
                                               oxm_header(a.src), oxm_header(a.dst)))
    if isinstance(a, Resubmit):
        return _nx(NXAST_RESUBMIT_TABLE, struct.pack("!HB3x", 0xFFF8, a.table))
    if isinstance(a, OutputReg):
        return _nx(NXAST_OUTPUT_REG, struct.pack("!HIH6x", 31, oxm_header(a.reg),
                                                 OFPCML_NO_BUFFER))
    raise OpenFlowError(f"cannot encode action {a!r}")


def encode_actions(actions: tuple[Action, ...]) -> bytes:
    return b"".join(encode_action(a) for a in actions)


def _instructions(flow: Flow) -> bytes:
    out = b""
    if flow.actions:
        acts = encode_actions(flow.actions)
        out += struct.pack("!HH4x", 4, 8 + len(acts)) + acts
    if flow.goto is not None:
        out += struct.pack("!HHB3x", 1, 8, flow.goto)
    return out


def encode_flow_mod(fm: FlowMod, xid: int) -> bytes:
    f = fm.flow
    if fm.command is FlowCommand.ADD:
        table, cookie_mask, body_match, instr = f.table, 0, encode_match(f.match), \
            _instructions(f)
    else:
        table, cookie_mask, body_match, instr = f.table, fm.cookie_mask, encode_match(()), b""
    body = struct.pack("!QQBBHHHIIIHH", f.cookie, cookie_mask, table, int(fm.command), 0, 0,
                       f.priority, OFP_NO_BUFFER, OFPP_ANY, OFPG_ANY, 0, 0)
    return message(OFPT_FLOW_MOD, xid, body + body_match + instr)


def encode_group_mod(gm: GroupMod, xid: int) -> bytes:
    buckets = b""
    for actions in gm.buckets:
        acts = encode_actions(actions)
        buckets += struct.pack("!HHII4x", 16 + len(acts), 0, OFPP_ANY, OFPG_ANY) + acts
    body = struct.pack("!HBxI", int(gm.command), 0, gm.group_id) + buckets
    return message(OFPT_GROUP_MOD, xid, body)


def encode_message(m: Message, xid: int) -> bytes:
    """A FLOW_MOD or GROUP_MOD, encoded or already encoded, with its header."""
    if isinstance(m, RawFlowMod):
        return header(OFPT_FLOW_MOD, 8 + len(m.body), xid) + m.body
    if isinstance(m, FlowMod):
        return encode_flow_mod(m, xid)
    if isinstance(m, GroupMod):
        return encode_group_mod(m, xid)
    raise OpenFlowError(f"cannot send {m!r}")


_BUNDLED_FLOW_MOD = struct.Struct("!BBHII2xHBBHI")  # BUNDLE_ADD header + body, FLOW_MOD header


def encode_bundle(bundle_id: int, messages: Sequence[Message], first_xid: int,
                  flags: int = OFPBF_ATOMIC | OFPBF_ORDERED) -> bytes:
    """One BUNDLE_ADD_MESSAGE per message, xids first_xid, first_xid + 1, ... (the inner
    message has its add's xid, as OpenFlow wants)."""
    out = []
    pack = _BUNDLED_FLOW_MOD.pack
    for xid, m in enumerate(messages, first_xid):
        if isinstance(m, RawFlowMod):
            n = 8 + len(m.body)
            out.append(pack(VERSION, OFPT_BUNDLE_ADD_MESSAGE, 16 + n, xid, bundle_id, flags,
                            VERSION, OFPT_FLOW_MOD, n, xid))
            out.append(m.body)
        else:
            out.append(encode_bundle_add(bundle_id, encode_message(m, xid), xid, flags))
    return b"".join(out)


def encode_packet_out(in_port: int, actions: tuple[Action, ...], data: bytes, xid: int) -> bytes:
    acts = encode_actions(actions)
    body = struct.pack("!IIH6x", OFP_NO_BUFFER, in_port, len(acts)) + acts + data
    return message(OFPT_PACKET_OUT, xid, body)


def encode_bundle_control(bundle_id: int, ctype: int, xid: int,
                          flags: int = OFPBF_ATOMIC | OFPBF_ORDERED) -> bytes:
    return message(OFPT_BUNDLE_CONTROL, xid, struct.pack("!IHH", bundle_id, ctype, flags))


def encode_bundle_add(bundle_id: int, inner: bytes, xid: int,
                      flags: int = OFPBF_ATOMIC | OFPBF_ORDERED) -> bytes:
    return message(OFPT_BUNDLE_ADD_MESSAGE, xid,
                   struct.pack("!I2xH", bundle_id, flags) + inner)


def encode_flow_stats_request(xid: int, table: int = OFPTT_ALL) -> bytes:
    body = struct.pack("!HH4xB3xII4xQQ", OFPMP_FLOW, 0, table, OFPP_ANY, OFPG_ANY, 0, 0)
    return message(OFPT_MULTIPART_REQUEST, xid, body + encode_match(()))


def encode_set_async_all_packet_ins(xid: int) -> bytes:
    """SET_ASYNC: every packet-in reason, whatever our role (slave and master masks)."""
    props = struct.pack("!HHI", 0, 8, 0x3F) + struct.pack("!HHI", 1, 8, 0x3F)
    return message(OFPT_SET_ASYNC, xid, props)


@dataclass(frozen=True, slots=True)
class FlowStats:
    table: int
    priority: int
    cookie: int
    packets: int
    bytes: int


def decode_flow_stats(body: bytes) -> list[FlowStats]:
    """The entries of one OFPMP_FLOW reply body (after the multipart header)."""
    out, pos = [], 0
    while pos + 56 <= len(body):
        length, table = struct.unpack_from("!HB", body, pos)
        priority = struct.unpack_from("!H", body, pos + 12)[0]
        cookie, packets, nbytes = struct.unpack_from("!QQQ", body, pos + 24)
        out.append(FlowStats(table, priority, cookie, packets, nbytes))
        if length == 0:
            break
        pos += length
    return out


@dataclass(frozen=True, slots=True)
class PacketIn:
    reason: int
    table: int
    cookie: int
    fields: dict[str, int]
    data: bytes


def decode_packet_in(msg: bytes) -> PacketIn:
    _bid, _total, reason, table, cookie = struct.unpack_from("!IHBBQ", msg, 8)
    fields, pos = decode_match(msg, 24)
    return PacketIn(reason, table, cookie, fields, msg[pos + 2:])


def decode_error(msg: bytes) -> OpenFlowError:
    etype, ecode = struct.unpack_from("!HH", msg, 8)
    return OpenFlowError(f"OpenFlow error type {etype} code {ecode}", etype, ecode)
