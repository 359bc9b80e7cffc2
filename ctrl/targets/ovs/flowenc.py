"""FLOW_MODs of the common P4 entries straight to bytes, without Flow objects. Pure.

`add_entry` and `delete_entry` answer as ctrl.targets.ovs.pipeline's functions of the same
names, but for the tables a migration writes by the thousand (bridging,
routing_v4, my_station, ingress_port) and for every delete, the messages are
RawFlowMods: the bytes `ofcodec.encode_flow_mod` makes of pipeline's flows, packed
in one struct call each. Any other entry goes to pipeline. The flows are
pipeline's (its docstring has the layout); tests compare the bytes on every
action of these tables.
"""

from __future__ import annotations

import struct

from ctrl.p4rt.entity import TableEntry
from ctrl.targets.ovs import ofcodec as oc
from ctrl.targets.ovs import pipeline
from ctrl.targets.ovs.flows import OFPP_ANY, OFPP_CONTROLLER, FlowCommand, Message, RawFlowMod
from ctrl.targets.ovs.pipeline import (
    CPU_PORT,
    ETH_IPV4,
    KIND_ACCESS,
    KIND_FABRIC,
    KIND_UNDERLAY,
    PRIO_ENTRY,
    REASON_BRIDGING,
    T_BRIDGING,
    T_EGRESS_VLAN,
    T_INGRESS_PORT,
    T_MY_STATION,
    T_ROUTING_V4,
    T_TUNNEL_ENCAP,
    T_VLAN,
    TABLE_IDS,
    GreLayout,
)

_M32 = 0xFFFFFFFF
_H = {name: oc.oxm_header(name) for name in
      ("in_port", "eth_dst", "eth_src", "eth_type", "ipv4_dst", "reg0", "reg1", "reg2",
       "reg3", "reg5")}


def _tail(table: int, command: FlowCommand, cookie_mask: int, priority: int) -> bytes:
    """ofp_flow_mod after its cookie: all but the cookie is fixed per table and command."""
    return struct.pack("!QBBHHHIIIHH", cookie_mask, table, int(command), 0, 0, priority,
                       oc.OFP_NO_BUFFER, OFPP_ANY, oc.OFPG_ANY, 0, 0)


_ADD = {t: _tail(t, FlowCommand.ADD, 0, PRIO_ENTRY) for t in range(T_EGRESS_VLAN + 1)}
_DELETE = {t: _tail(t, FlowCommand.DELETE, (1 << 64) - 1, 0) + struct.pack("!HH4x", 1, 4)
           for t in [*TABLE_IDS.values(), 0xFF]}
_COOKIE = struct.Struct("!Q")

# Matches: ofp_match (type 1, length) and its OXMs, padded to 8 bytes.
_VNET_MAC = struct.Struct("!HHIIIHI2x")            # reg0, eth_dst
_VNET_MAC_IPV4 = struct.Struct("!HHIIIHIIH4x")     # reg0, eth_dst, eth_type
_VNET_IPV4 = struct.Struct("!HHIIIHII6x")          # reg0, eth_type, ipv4_dst
_IN_PORT = struct.Struct("!HHII4x")                # in_port
# Instructions and actions.
_APPLY = struct.Struct("!HH4x")                    # OFPIT_APPLY_ACTIONS, length
_GOTO = struct.Struct("!HHB3x")
_SET_REG = struct.Struct("!HHII4x")                # OFPAT_SET_FIELD of a 32-bit register
_SET_MAC = struct.Struct("!HHIHI2x")               # OFPAT_SET_FIELD of a MAC
_CONTROLLER = struct.pack("!HHIH6x", 0, 16, OFPP_CONTROLLER, oc.OFPCML_NO_BUFFER)
_DEC_TTL = struct.pack("!HH4x", 24, 8)


def _set_reg(reg: str, value: int) -> bytes:
    return _SET_REG.pack(25, 16, _H[reg], value)


def _apply(*actions: bytes) -> bytes:
    body = b"".join(actions)
    return _APPLY.pack(4, 8 + len(body)) + body


def _goto(table: int) -> bytes:
    return _GOTO.pack(1, 8, table)


def _vnet_mac(vnet: int, mac: int) -> bytes:
    return _VNET_MAC.pack(1, 22, _H["reg0"], vnet, _H["eth_dst"], mac >> 32, mac & _M32)


_TO_CPU = _apply(_set_reg("reg3", REASON_BRIDGING), _CONTROLLER)
_TO_CONTROLLER = _apply(_CONTROLLER)
_INGRESS_KINDS = {"ingress_port.set_access": KIND_ACCESS, "ingress_port.set_fabric": KIND_FABRIC,
                  "ingress_port.set_underlay": KIND_UNDERLAY}


def _bridging(e: TableEntry) -> bytes | None:
    m, p, act = e.match, e.params, e.action
    head = _vnet_mac(int(m["vnet_id"]), int(m["eth_dst"]))
    if act == "bridging.forward":
        port = int(p["port"])
        if port == CPU_PORT:
            return head + _TO_CONTROLLER
        return head + _apply(_set_reg("reg5", port)) + _goto(T_EGRESS_VLAN)
    if act == "bridging.to_tunnel":
        return head + _apply(_set_reg("reg2", int(p["tunnel_id"]))) + _goto(T_TUNNEL_ENCAP)
    if act == "bridging.to_cpu":
        return head + _TO_CPU
    if act == "bridging.drop":
        return head
    return None  # bridging.flood: pipeline's (a group action)


def _routing_v4(e: TableEntry) -> bytes | None:
    m, p = e.match, e.params
    head = _VNET_IPV4.pack(1, 26, _H["reg0"], int(m["vnet_id"]), _H["eth_type"], ETH_IPV4,
                           _H["ipv4_dst"], int(m["ipv4_dst"]))
    if e.action == "routing_v4.drop":
        return head
    if e.action != "routing_v4.route":
        return None
    src, dst = int(p["src_mac"]), int(p["dst_mac"])
    return head + _apply(_SET_MAC.pack(25, 16, _H["eth_src"], src >> 32, src & _M32),
                         _SET_MAC.pack(25, 16, _H["eth_dst"], dst >> 32, dst & _M32),
                         _DEC_TTL) + _goto(T_BRIDGING)


def _my_station(e: TableEntry) -> bytes:
    mac = int(e.match["eth_dst"])
    head = _VNET_MAC_IPV4.pack(1, 28, _H["reg0"], int(e.match["vnet_id"]), _H["eth_dst"],
                               mac >> 32, mac & _M32, _H["eth_type"], ETH_IPV4)
    return head + _goto(T_ROUTING_V4)


def _ingress_port(e: TableEntry) -> bytes | None:
    kind = _INGRESS_KINDS.get(e.action)
    if kind is None:
        return None
    actions = [_set_reg("reg1", kind)]
    if kind == KIND_ACCESS:
        actions.append(_set_reg("reg0", int(e.params["vnet_id"])))
    return (_IN_PORT.pack(1, 12, _H["in_port"], int(e.match["ingress_port"]))
            + _apply(*actions) + _goto(T_VLAN))


_ENCODERS = {"bridging": (T_BRIDGING, _bridging), "routing_v4": (T_ROUTING_V4, _routing_v4),
             "my_station": (T_MY_STATION, _my_station),
             "ingress_port": (T_INGRESS_PORT, _ingress_port)}


def add_entry(e: TableEntry, cookie: int, gre: GreLayout | None = None) -> list[Message]:
    """pipeline.add_entry's messages; RawFlowMods for the common tables."""
    enc = _ENCODERS.get(e.table)
    if enc is not None:
        table, encode = enc
        body = encode(e)
        if body is not None:
            return [RawFlowMod(_COOKIE.pack(cookie) + _ADD[table] + body)]
    return pipeline.add_entry(e, cookie, gre)


def delete_entry(e: TableEntry, cookie: int) -> list[Message]:
    """pipeline.delete_entry's message (all flows with the entry's cookie), as bytes."""
    return [RawFlowMod(_COOKIE.pack(cookie) + _DELETE[TABLE_IDS.get(e.table, 0xFF)])]
