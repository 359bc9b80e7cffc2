"""mobility.p4 on OpenFlow: P4 table entries and multicast groups -> flows and groups. Pure.

Each P4 table is one OpenFlow table; P4 metadata lives in Nicira registers. Every
flow of one P4 entry carries that entry's cookie, so an entry is removed by cookie
and its direct counter is the sum of its flows' statistics.

  table 0  ingress_port      in_port -> port kind (reg1), vnet (reg0)
  table 1  VLAN pop          fabric: vnet = VLAN id; a tag elsewhere: kind unknown
  table 2  gre_termination   (frames from the GRE port: tun_id -> vnet)
  table 3  punt              -> controller with reason (reg3); then unknown / underlay drop
  table 5  my_station        (vnet, eth_dst), IPv4 -> routing_v4, else bridging
  table 6  routing_v4        TTL <= 1 dropped; (vnet, ipv4_dst) -> MACs, TTL - 1
  table 7  bridging          (vnet, eth_dst) -> port (reg5) / tunnel (reg2) / group / CPU
  table 8  tunnel_encap      (tunnel not on this target yet: dropped)
  table 9  egress_vlan       reg5 + port kind -> push the vnet tag; out of reg5
"""

from __future__ import annotations

from collections.abc import Iterable

from ctrl.errors import P4EncodeError
from ctrl.ovs.flows import (
    Action,
    Controller,
    DecTtl,
    Flow,
    FlowCommand,
    FlowMod,
    Group,
    GroupCommand,
    GroupMod,
    Message,
    Move,
    Output,
    OutputReg,
    PopVlan,
    PushVlan,
    Resubmit,
    SetField,
    match,
)
from ctrl.p4entity import MulticastGroupEntry, TableEntry

T_INGRESS_PORT, T_VLAN, T_GRE_TERMINATION, T_PUNT = 0, 1, 2, 3
T_MY_STATION, T_ROUTING_V4, T_BRIDGING, T_TUNNEL_ENCAP, T_EGRESS_VLAN = 5, 6, 7, 8, 9

REG_VNET, REG_KIND, REG_TUNNEL, REG_REASON, REG_FLAGS, REG_OUT = (
    "reg0", "reg1", "reg2", "reg3", "reg4", "reg5")
FLAG_TERMINATED = 1

KIND_UNKNOWN, KIND_ACCESS, KIND_FABRIC, KIND_UNDERLAY = 0, 1, 2, 3
CPU_PORT = 255
REASON_BRIDGING = 5
ETH_IPV4, UDP = 0x0800, 17
VLAN_PRESENT = 0x1000
IP_FRAG_LATER = 0x3  # nw_frag: fragment, not the first

PRIO_ENTRY = 100
ALL_COOKIES = 0

TABLE_IDS = {
    "ingress_port": T_INGRESS_PORT, "gre_termination": T_GRE_TERMINATION, "punt": T_PUNT,
    "my_station": T_MY_STATION, "routing_v4": T_ROUTING_V4, "bridging": T_BRIDGING,
    "tunnel_encap": T_TUNNEL_ENCAP, "underlay_next_hop": T_TUNNEL_ENCAP,
    "egress_vlan": T_EGRESS_VLAN,
}


def _port(p4_port: int) -> Action:
    return Controller() if p4_port == CPU_PORT else Output(p4_port)


def base_flows() -> list[Message]:
    """Empty the bridge, then the flows every table needs before any entry: misses."""
    out: list[Message] = [
        FlowMod(FlowCommand.DELETE, Flow(0xFF, 0, cookie=0), cookie_mask=0),
        GroupMod(GroupCommand.DELETE, 0xFFFFFFFC),  # OFPG_ALL
    ]
    flows = [
        Flow(T_INGRESS_PORT, 0, goto=T_VLAN),  # const default: set_unknown (reg1 = 0)
        # A tag on a fabric link names the virtual network; a tag anywhere else: unknown.
        Flow(T_VLAN, 30, match(reg1=KIND_FABRIC, vlan_vid=(VLAN_PRESENT, VLAN_PRESENT)),
             (Move("vlan_vid", REG_VNET, 12), PopVlan()), goto=T_GRE_TERMINATION),
        Flow(T_VLAN, 20, match(vlan_vid=(VLAN_PRESENT, VLAN_PRESENT)),
             (SetField(REG_KIND, KIND_UNKNOWN), PopVlan()), goto=T_GRE_TERMINATION),
        Flow(T_VLAN, 10, match(reg1=KIND_FABRIC), (SetField(REG_KIND, KIND_UNKNOWN),),
             goto=T_GRE_TERMINATION),
        Flow(T_VLAN, 0, goto=T_GRE_TERMINATION),
        Flow(T_GRE_TERMINATION, 0, goto=T_PUNT),
        # After punt: unknown ports, and underlay frames not terminated here, go nowhere.
        Flow(T_PUNT, 1, match(reg1=KIND_UNKNOWN)),
        Flow(T_PUNT, 1, match(reg1=KIND_UNDERLAY, reg4=(0, FLAG_TERMINATED))),
        Flow(T_PUNT, 0, goto=T_MY_STATION),
        Flow(T_MY_STATION, 0, goto=T_BRIDGING),
        Flow(T_ROUTING_V4, 200, match(eth_type=ETH_IPV4, ip_ttl=0)),
        Flow(T_ROUTING_V4, 200, match(eth_type=ETH_IPV4, ip_ttl=1)),
        Flow(T_ROUTING_V4, 0),  # const default: drop
        Flow(T_BRIDGING, 0),  # const default: drop
        Flow(T_TUNNEL_ENCAP, 0),  # const default: drop
        Flow(T_EGRESS_VLAN, 0, actions=(OutputReg(REG_OUT),)),  # NoAction: out as it is
    ]
    out += [FlowMod(FlowCommand.ADD, f) for f in flows]
    return out


def _punt_matches(ether_type: int, ip_proto: int, l4_dst: int
                  ) -> list[tuple[tuple[str, int, int | None], ...]]:
    """Where P4's (ether_type, ip_proto, l4_dst_port) key can match, as OpenFlow matches.

    ip_proto is 0 without IPv4; l4_dst_port is the UDP destination port of unfragmented
    (or first-fragment) UDP, else 0. Keys no frame can have yield no flows.
    """
    if ether_type != ETH_IPV4:
        return [match(eth_type=ether_type)] if ip_proto == 0 and l4_dst == 0 else []
    if ip_proto != UDP:
        return [match(eth_type=ETH_IPV4, ip_proto=ip_proto)] if l4_dst == 0 else []
    out = [match(eth_type=ETH_IPV4, ip_proto=UDP, udp_dst=l4_dst)]
    if l4_dst == 0:
        out.append(match(eth_type=ETH_IPV4, ip_proto=UDP, ip_frag=(IP_FRAG_LATER, 3)))
    return out


def entry_flows(e: TableEntry, cookie: int) -> list[Flow]:
    """The flows that make one P4 table entry (all with `cookie`)."""
    m = {k: int(v) for k, v in e.match.items()}
    p = {k: int(v) for k, v in e.params.items()}
    act = e.action

    def flow(table: int, mt: tuple[tuple[str, int, int | None], ...],
             actions: tuple[Action, ...] = (), goto: int | None = None,
             priority: int = PRIO_ENTRY) -> Flow:
        return Flow(table, priority, mt, actions, goto, cookie)

    if e.table == "ingress_port":
        kind = {"ingress_port.set_access": KIND_ACCESS, "ingress_port.set_fabric": KIND_FABRIC,
                "ingress_port.set_underlay": KIND_UNDERLAY}[act]
        acts: tuple[Action, ...] = (SetField(REG_KIND, kind),)
        if kind == KIND_ACCESS:
            acts += (SetField(REG_VNET, p["vnet_id"]),)
        return [flow(T_INGRESS_PORT, match(in_port=m["ingress_port"]), acts, T_VLAN)]
    if e.table == "punt":
        acts = (SetField(REG_REASON, p["reason"]), Controller())
        return [flow(T_PUNT, mt, acts)
                for mt in _punt_matches(m["ether_type"], m["ip_proto"], m["l4_dst_port"])]
    if e.table == "my_station":
        return [flow(T_MY_STATION, match(reg0=m["vnet_id"], eth_dst=m["eth_dst"],
                                         eth_type=ETH_IPV4), (), T_ROUTING_V4)]
    if e.table == "routing_v4":
        mt = match(reg0=m["vnet_id"], eth_type=ETH_IPV4, ipv4_dst=m["ipv4_dst"])
        if act == "routing_v4.drop":
            return [flow(T_ROUTING_V4, mt)]
        return [flow(T_ROUTING_V4, mt, (SetField("eth_src", p["src_mac"]),
                                        SetField("eth_dst", p["dst_mac"]), DecTtl()),
                     T_BRIDGING)]
    if e.table == "bridging":
        mt = match(reg0=m["vnet_id"], eth_dst=m["eth_dst"])
        if act == "bridging.forward":
            if p["port"] == CPU_PORT:
                return [flow(T_BRIDGING, mt, (Controller(),))]
            return [flow(T_BRIDGING, mt, (SetField(REG_OUT, p["port"]),), T_EGRESS_VLAN)]
        if act == "bridging.flood":
            return [flow(T_BRIDGING, mt, (Group(p["group"]),))]
        if act == "bridging.to_cpu":
            return [flow(T_BRIDGING, mt, (SetField(REG_REASON, REASON_BRIDGING), Controller()))]
        if act == "bridging.to_tunnel":
            return [flow(T_BRIDGING, mt, (SetField(REG_TUNNEL, p["tunnel_id"]),),
                         T_TUNNEL_ENCAP)]
        return [flow(T_BRIDGING, mt)]  # bridging.drop
    if e.table == "egress_vlan":
        port = m["egress_port"]
        acts = (PushVlan(), Move(REG_VNET, "vlan_vid", 12), _port(port))
        return [flow(T_EGRESS_VLAN, match(reg5=port, reg1=kind, reg2=0), acts)
                for kind in (KIND_ACCESS, KIND_FABRIC, KIND_UNDERLAY)]
    if e.table in ("gre_termination", "tunnel_encap", "underlay_next_hop"):
        return []  # held and read back; GRE is not forwarded by this target yet
    raise P4EncodeError(f"table {e.table!r} is not part of mobility.p4 on Open vSwitch")


def group_buckets(g: MulticastGroupEntry) -> tuple[tuple[Action, ...], ...]:
    """One bucket per replica: egress processing (egress_vlan) for its port.

    OVS never sends a frame back out of its ingress port, which is what a flooded
    copy needs (mobility.p4's egress drops it).
    """
    return tuple((SetField(REG_OUT, r.port), Resubmit(T_EGRESS_VLAN)) if r.port != CPU_PORT
                 else (Controller(),) for r in g.replicas)


def add_entry(e: TableEntry, cookie: int) -> list[Message]:
    return [FlowMod(FlowCommand.ADD, f) for f in entry_flows(e, cookie)]


def delete_entry(e: TableEntry, cookie: int) -> list[Message]:
    table = TABLE_IDS.get(e.table, 0xFF)
    return [FlowMod(FlowCommand.DELETE, Flow(table, 0, cookie=cookie), cookie_mask=(1 << 64) - 1)]


def group_ids_used(e: TableEntry) -> Iterable[int]:
    if e.action == "bridging.flood":
        yield int(e.params["group"])


def packet_out_actions(egress_port: int, mcast_grp: int) -> tuple[Action, ...]:
    if mcast_grp:
        return (Group(mcast_grp),)
    return (_port(egress_port),)


