"""mobility.p4 on OpenFlow: P4 table entries and multicast groups -> flows and groups. Pure.

Each P4 table is one OpenFlow table; P4 metadata lives in Nicira registers. Every
flow of one P4 entry carries that entry's cookie, so an entry is removed by cookie
and its direct counter is the sum of its flows' statistics.

  table 0  ingress_port      in_port -> port kind (reg1), vnet (reg0); GRE port and
                             patch: see below
  table 1  VLAN pop          fabric: vnet = VLAN id; a tag elsewhere: kind unknown
  table 2  gre_termination   underlay GRE to our address -> over the patch to be popped
  table 3  punt              -> controller with reason (reg3); then unknown / underlay drop
  table 4  underlay_next_hop outer IPv4 dst -> both MACs, out of the entry's port
  table 5  my_station        (vnet, eth_dst), IPv4 -> routing_v4, else bridging
  table 6  routing_v4        TTL <= 1 dropped; (vnet, ipv4_dst) -> MACs, TTL - 1
  table 7  bridging          (vnet, eth_dst) -> port (reg5) / tunnel (reg2) / group / CPU
  table 8  tunnel_encap      tunnel id -> tun_src, tun_dst, tun_id = vnet, out of the GRE port
  table 9  egress_vlan       reg5 + port kind -> push the vnet tag; out of reg5
  table 10 tunnel replica    a group bucket with a tunnel (a replica's instance) in
                             reg2: the controller's frames out of reg5 as they are,
                             frames out of a tunnel dropped, the rest to tunnel_encap

GRE (a `GreLayout`): OVS's native tunneling does the pushing and popping. The P4
bridge has a flow-based GRE port and a patch port to an underlay bridge of its own,
whose LOCAL port holds the underlay addresses (ctrl.targets.ovs.underlay puts them there).
  termination    gre_termination sends the frame over the patch with eth_dst = the
                 underlay bridge's MAC and the ingress port in the outer IPv4 source
                 (0.0.x.y); output to LOCAL, OVS pops it, and the inner frame comes in
                 on the GRE port: table 0 restores in_port from tun_src, vnet = tun_id
                 (keys of more than 12 bits, and key 0, dropped), kind underlay,
                 terminated, and goes on at punt.
  encapsulation  tunnel_encap outputs to the GRE port; OVS pushes outer IPv4 + GRE and
                 routes it (ovs/route) out of the underlay bridge, whose flows send it
                 back over the patch; table 0 takes it to underlay_next_hop.
What OpenFlow cannot see, and so differs from bmv2: GRE with a checksum or sequence
number, or an outer header with IP options, is terminated here (bmv2 leaves it
unparsed and drops it); a key of more than 12 bits is dropped after the pop, so it is
never punted with its outer headers as bmv2 would if a punt entry matched them; key 0
(OVS cannot tell it from no key) is dropped, where bmv2 would carry on in virtual
network 0, which no virtual network is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ctrl.errors import P4EncodeError
from ctrl.p4rt.entity import MulticastGroupEntry, Replica, TableEntry
from ctrl.targets.ovs.flows import (
    OFPP_LOCAL,
    Action,
    Controller,
    DecTtl,
    Flow,
    FlowCommand,
    FlowMod,
    Group,
    GroupCommand,
    GroupMod,
    Match,
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

T_INGRESS_PORT, T_VLAN, T_GRE_TERMINATION, T_PUNT, T_UNDERLAY_NEXT_HOP = 0, 1, 2, 3, 4
T_MY_STATION, T_ROUTING_V4, T_BRIDGING, T_TUNNEL_ENCAP, T_EGRESS_VLAN = 5, 6, 7, 8, 9
T_TUNNEL_REPLICA = 10

REG_VNET, REG_KIND, REG_TUNNEL, REG_REASON, REG_FLAGS, REG_OUT = (
    "reg0", "reg1", "reg2", "reg3", "reg4", "reg5")
FLAG_TERMINATED = 1

KIND_UNKNOWN, KIND_ACCESS, KIND_FABRIC, KIND_UNDERLAY = 0, 1, 2, 3
CPU_PORT = 255
REASON_BRIDGING = 5
ETH_IPV4, UDP, GRE = 0x0800, 17, 47
VLAN_PRESENT = 0x1000
IP_FRAG_LATER = 0x3  # nw_frag: fragment, not the first
NW_FRAG_LATER_BIT = 0x2
VNET_BITS = 12
WIDE_KEY = ((1 << 64) - 1) ^ ((1 << VNET_BITS) - 1)  # tun_id bits no virtual network has

PRIO_ENTRY = 100
PRIO_TUNNEL_PORT = 200  # table 0: the GRE and patch ports, above every ingress_port entry
ALL_COOKIES = 0

TABLE_IDS = {
    "ingress_port": T_INGRESS_PORT, "gre_termination": T_GRE_TERMINATION, "punt": T_PUNT,
    "my_station": T_MY_STATION, "routing_v4": T_ROUTING_V4, "bridging": T_BRIDGING,
    "tunnel_encap": T_TUNNEL_ENCAP, "underlay_next_hop": T_UNDERLAY_NEXT_HOP,
    "egress_vlan": T_EGRESS_VLAN,
}


GRE_TABLES = ("gre_termination", "tunnel_encap", "underlay_next_hop")
# OpenFlow ports beside the P4 ports (9 bits): the GRE port and the patch to the underlay.
GRE_PORT, PATCH_PORT = 65000, 65001
UNDERLAY_PATCH_PORT = 1  # the patch's other end, on the underlay bridge


@dataclass(frozen=True, slots=True)
class GreLayout:
    """Where GRE meets a P4 bridge: its GRE and patch ports, and the MAC of the
    underlay bridge's LOCAL port (GRE is popped only for frames sent there)."""

    underlay_mac: int
    gre_port: int = GRE_PORT
    patch_port: int = PATCH_PORT


def _port(p4_port: int) -> Action:
    return Controller() if p4_port == CPU_PORT else Output(p4_port)


def _gre_port_flows(gre: GreLayout) -> list[Flow]:
    """Table 0 for what comes from OVS's tunneling, not from a P4 port."""
    prio = PRIO_TUNNEL_PORT
    return [
        # Our own encapsulated frames, back from the underlay bridge: underlay_next_hop.
        Flow(T_INGRESS_PORT, prio, match(in_port=gre.patch_port, eth_type=ETH_IPV4,
                                         ip_proto=GRE), goto=T_UNDERLAY_NEXT_HOP),
        Flow(T_INGRESS_PORT, prio - 1, match(in_port=gre.patch_port)),
        # Inner frames of terminated GRE: back on their underlay port, in the key's vnet.
        Flow(T_INGRESS_PORT, prio + 1, match(in_port=gre.gre_port, tun_id=0)),
        Flow(T_INGRESS_PORT, prio, match(in_port=gre.gre_port, tun_id=(0, WIDE_KEY)),
             (Move("tun_ipv4_src", "nx_in_port", 16), SetField(REG_KIND, KIND_UNDERLAY),
              SetField(REG_FLAGS, FLAG_TERMINATED), Move("tun_id", REG_VNET, VNET_BITS)),
             goto=T_PUNT),
        Flow(T_INGRESS_PORT, prio - 1, match(in_port=gre.gre_port)),
        Flow(T_UNDERLAY_NEXT_HOP, 0),  # const default: drop
    ]


def underlay_bridge_flows() -> list[Message]:
    """The underlay bridge: GRE from the P4 bridge to LOCAL (where OVS pops it), GRE
    OVS pushed (it leaves from LOCAL) back to the P4 bridge; nothing else, either way."""
    flows = [
        Flow(0, 10, match(in_port=UNDERLAY_PATCH_PORT), (Output(OFPP_LOCAL),)),
        Flow(0, 10, match(in_port=OFPP_LOCAL, eth_type=ETH_IPV4, ip_proto=GRE),
             (Output(UNDERLAY_PATCH_PORT),)),
        Flow(0, 0),
    ]
    return [FlowMod(FlowCommand.DELETE, Flow(0xFF, 0, cookie=0), cookie_mask=0),
            *(FlowMod(FlowCommand.ADD, f) for f in flows)]


def base_flows(gre: GreLayout | None = None) -> list[Message]:
    """Empty the bridge, then the flows every table needs before any entry: misses."""
    return [FlowMod(FlowCommand.DELETE, Flow(0xFF, 0, cookie=0), cookie_mask=0),
            GroupMod(GroupCommand.DELETE, 0xFFFFFFFC),  # OFPG_ALL
            *pipeline_flows(gre)]


def pipeline_flows(gre: GreLayout | None = None) -> list[Message]:
    """The flows every table needs before any entry (misses), added: on a bridge that
    has them already, each replaces its twin in place."""
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
        # mobility.p4's TunnelReplica: only flooded copies (the controller's frames, in no
        # port kind, leave as built); none from one tunnel into another; the rest go
        # through tunnel_encap as bridged frames do (bmv2 recirculates them to it).
        Flow(T_TUNNEL_REPLICA, 20, match(reg1=KIND_UNKNOWN), (OutputReg(REG_OUT),)),
        Flow(T_TUNNEL_REPLICA, 10, match(reg4=(FLAG_TERMINATED, FLAG_TERMINATED))),
        Flow(T_TUNNEL_REPLICA, 0, actions=(Resubmit(T_TUNNEL_ENCAP),)),  # goto: forward only
    ]
    if gre is not None:
        flows += _gre_port_flows(gre)
    return [FlowMod(FlowCommand.ADD, f) for f in flows]


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


def entry_flows(e: TableEntry, cookie: int, gre: GreLayout | None = None) -> list[Flow]:
    """The flows that make one P4 table entry (all with `cookie`); GRE tables need `gre`."""
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
    if e.table in GRE_TABLES:
        if gre is None:
            raise P4EncodeError(f"{e.table}: this bridge has no GRE port")
        return [Flow(table, PRIO_ENTRY, mt, acts, None, cookie)
                for table, mt, acts in _gre_entry_flows(e, m, p, gre)]
    raise P4EncodeError(f"table {e.table!r} is not part of mobility.p4 on Open vSwitch")


def _gre_entry_flows(e: TableEntry, m: dict[str, int], p: dict[str, int], gre: GreLayout
                     ) -> list[tuple[int, Match, tuple[Action, ...]]]:
    """(table, match, actions) of one entry of a GRE table."""
    if e.table == "gre_termination":
        # mobility.p4 parses GRE only in unfragmented (or first-fragment) IPv4.
        mt = match(reg1=KIND_UNDERLAY, eth_type=ETH_IPV4, ip_proto=GRE,
                   ipv4_dst=m["ipv4_dst"], ip_frag=(0, NW_FRAG_LATER_BIT))
        return [(T_GRE_TERMINATION, mt, (
            SetField("ipv4_src", 0), Move("nx_in_port", "ipv4_src", 16),
            SetField("eth_dst", gre.underlay_mac), Output(gre.patch_port)))]
    if e.table == "tunnel_encap":
        if m["tunnel_id"] == 0:
            return []  # tunnel 0 is "no tunnel": mobility.p4 never looks it up
        mt = match(reg2=m["tunnel_id"])
        if e.action != "tunnel_encap.encap_gre":
            return [(T_TUNNEL_ENCAP, mt, ())]
        return [(T_TUNNEL_ENCAP, mt, (
            SetField("tun_ipv4_src", p["src_addr"]), SetField("tun_ipv4_dst", p["dst_addr"]),
            SetField("tun_id", 0), Move(REG_VNET, "tun_id", VNET_BITS),
            Output(gre.gre_port)))]
    mt = match(eth_type=ETH_IPV4, ipv4_dst=m["ipv4_dst"])  # underlay_next_hop
    if e.action != "underlay_next_hop.set_next_hop":
        return [(T_UNDERLAY_NEXT_HOP, mt, ())]
    # No egress_vlan: mobility.p4 never tags what it encapsulated.
    return [(T_UNDERLAY_NEXT_HOP, mt, (
        SetField("eth_src", p["src_mac"]), SetField("eth_dst", p["dst_mac"]),
        _port(p["port"])))]


def _bucket(r: Replica) -> tuple[Action, ...]:
    if r.instance:
        return (SetField(REG_OUT, r.port), SetField(REG_TUNNEL, r.instance),
                Resubmit(T_TUNNEL_REPLICA))
    if r.port == CPU_PORT:
        return (Controller(),)
    return (SetField(REG_OUT, r.port), Resubmit(T_EGRESS_VLAN))


def group_buckets(g: MulticastGroupEntry) -> tuple[tuple[Action, ...], ...]:
    """One bucket per replica: egress processing (egress_vlan) for its port, or, for a
    replica with an instance, the tunnel of that id (each bucket sets its own).

    OVS never sends a frame back out of its ingress port, which is what a flooded
    copy needs (mobility.p4's egress drops it).
    """
    return tuple(_bucket(r) for r in g.replicas)


def add_entry(e: TableEntry, cookie: int, gre: GreLayout | None = None) -> list[Message]:
    return [FlowMod(FlowCommand.ADD, f) for f in entry_flows(e, cookie, gre)]


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


