"""What a batch of punted frames says, for the controller to act on. Pure.

The switch hands over every packet-in waiting at once; the fast path parses
them in one call (ctrl.fastpath) and `classify` reads the records: LLDP from
a neighbour (a link is alive), a host showing itself with ARP, gratuitous
ARP, RARP or a DHCP request (learning and moves), with the ARP requests the
controller answers itself, or a frame a gateway could not bridge because the
GRE tunnel it needs is down (tunnels on demand). Frames that are malformed, or that say nothing the
controller uses, are counted and dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ctrl.control.hosts import Source
from ctrl.fastpath import Kind, MetaColumns, PuntReason, Record, Records
from ctrl.fastpath.columns import Fields
from ctrl.fastpath.layout import L_ARP, L_ETH, L_META
from ctrl.fastpath.parse import BatchParser
from ctrl.fastpath.stream import MetaSpec, PuntBatch
from ctrl.p4rt.entity import PacketIn
from ctrl.p4rt.schema import P4Schema
from ctrl.punt.frames import Arp, arp_of
from ctrl.punt.lldp import LldpInfo, lldp_info

DHCP_DISCOVER, DHCP_REQUEST = 1, 3


@dataclass(frozen=True, slots=True)
class LinkProbe:
    """One of our LLDP frames, back on `port` of the switch that punted it."""

    port: int
    info: LldpInfo


@dataclass(frozen=True, slots=True)
class HostSeen:
    """A host on `port`: its MAC, its IPv4 address where the frame tells it, and how
    it was seen. `vnet` 0: the port is in no virtual network yet. `arp` is set for
    an ARP request the controller may answer (proxy ARP)."""

    port: int
    vnet: int
    mac: int
    ip: int | None
    source: Source
    arp: Arp | None = None


@dataclass(frozen=True, slots=True)
class NeedsTunnel:
    """A frame for `dst_mac` in `vnet` that a gateway punted: its tunnel is down."""

    port: int
    vnet: int
    dst_mac: int
    frame: bytes


@dataclass(slots=True)
class Classified:
    probes: list[LinkProbe] = field(default_factory=list)
    hosts: list[HostSeen] = field(default_factory=list)
    unbridged: list[NeedsTunnel] = field(default_factory=list)
    malformed: int = 0
    ignored: int = 0


def packet_in_spec(schema: P4Schema) -> MetaSpec:
    """The packet_in header's fields, for the stream's C decoder."""
    return MetaSpec.of((f.id, f.name, f.bitwidth)
                       for f in schema.packet_metadata["packet_in"].fields)


def parse_packet_ins(parser: BatchParser, pkts: Sequence[PacketIn]) -> Records:
    """One C call for every frame of the batch, with its packet-in metadata."""
    meta = MetaColumns([p.metadata.get("ingress_port", 0) for p in pkts],
                       [p.metadata.get("reason", 0) for p in pkts],
                       [p.metadata.get("vnet_id", 0) for p in pkts])
    return parser.parse([p.payload for p in pkts], meta)


# The columns classify_kept reads, in the order it unpacks them.
_COLUMNS = Fields.of(("kind", "reject", "layers", "meta.in_port", "meta.vnet_id",
                      "meta.reason", "ether_type", "eth_src", "eth_dst", "arp.oper", "arp.sha",
                      "arp.spa", "arp.tha", "arp.tpa"))
_WIDTH = len(_COLUMNS.names)
_ARP_KINDS = (Kind.ARP, Kind.RARP)
_ARP_LAYERS = L_ETH | L_ARP | L_META


def classify_kept(batch: PuntBatch, kept: Sequence[int]) -> Classified:
    """classify() of the frames `kept` of a batch (the quiet filter's), the same answer:
    an ARP or RARP frame, most of them, is read from the batch's rows (one C call for
    the kept rows' fields), not made into a Record; any other becomes a Record as before."""
    out = Classified()
    if not kept:
        return out
    rows = batch.records.rows(_COLUMNS, kept)
    for j, i in enumerate(kept):
        (kind, reject, layers, port, vnet, reason, ether_type, eth_src, eth_dst,
         oper, sha, spa, tha, tpa) = rows[j * _WIDTH:(j + 1) * _WIDTH]
        if (kind not in _ARP_KINDS or reject or layers & _ARP_LAYERS != _ARP_LAYERS
                or reason == PuntReason.BRIDGING):
            _classify_one(batch.records[i], batch.frame(i), out)
            continue
        if not 1 <= oper <= 4 or sha != eth_src:
            out.ignored += 1  # unknown operation, or a sender that is not the source
            continue
        _arp_seen(Arp(ether_type, eth_src, eth_dst, oper, sha, spa, tha, tpa), port, vnet,
                  out)
    return out


def _arp_seen(arp: Arp, port: int, vnet: int, out: Classified) -> None:
    source = Source.RARP if arp.is_rarp else Source.GARP if arp.is_gratuitous else Source.ARP
    ip = None if arp.is_rarp or arp.spa == 0 else arp.spa
    ask = arp if source is Source.ARP and arp.oper == 1 else None
    out.hosts.append(HostSeen(port, vnet, arp.sha, ip, source, ask))


def classify(records: Sequence[Record], frames: Sequence[bytes]) -> Classified:
    out = Classified()
    for rec, frame in zip(records, frames, strict=True):
        _classify_one(rec, frame, out)
    return out


def _classify_one(rec: Record, frame: bytes, out: Classified) -> None:
    meta = rec.meta
    if not rec.ok or meta is None:
        out.malformed += 1
        return
    port, vnet = meta.in_port, meta.vnet_id
    if meta.reason == PuntReason.BRIDGING and rec.eth is not None:
        out.unbridged.append(NeedsTunnel(port, vnet, rec.eth.dst, frame))
    elif rec.kind is Kind.LLDP and rec.lldp is not None:
        info = lldp_info(rec.lldp)
        if info is None:
            out.ignored += 1
        else:
            out.probes.append(LinkProbe(port, info))
    elif rec.kind in (Kind.ARP, Kind.RARP):
        arp = arp_of(rec)
        if arp is None or arp.sha != arp.eth_src:
            out.ignored += 1  # unknown operation, or a sender that is not the source
            return
        _arp_seen(arp, port, vnet, out)
    elif rec.kind is Kind.DHCP and rec.dhcp is not None and rec.eth is not None:
        d = rec.dhcp
        if d.op != 1 or d.chaddr != rec.eth.src:
            out.ignored += 1  # a reply, or relayed for another host
            return
        ip = d.ciaddr or (d.requested_ip if d.msg_type == DHCP_REQUEST else 0)
        out.hosts.append(HostSeen(port, vnet, d.chaddr, ip or None, Source.DHCP))
    else:
        out.ignored += 1
