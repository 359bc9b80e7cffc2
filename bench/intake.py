"""The ways from packet-in messages (the bytes gRPC hands over) to the host tracker's
decisions that bench_packet_ins.py compares, each on a fresh control core:

- columns: what the controller does now: one C call decodes a batch's messages and
  parses their frames, the quiet filter (C) leaves out settled hosts' repeats, and only
  the rest become objects (ControlCore.punted);
- main's path (before columns): protobuf decodes each message into a PacketIn, the C
  parser parses the batch's frames, every record becomes objects, every frame goes to
  the core;
- dpkt loop: protobuf decodes each message, dpkt each frame, a Python dict leaves out
  settled hosts' repeats by the same rule, the rest go to the core in their batch;
- dpkt loop, every frame to the core: the same without the dict.

`Decisions` is what each decided: the plans, the proxy ARP replies (sorted: the
columns answer settled hosts' requests in C, in one plan a batch, ahead of the rest;
the others one plan a request where it came), what the core noticed, its counters (the
count of quiet frames aside), the host table.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import dpkt

from ctrl.control.core import ControlCore, Metrics
from ctrl.control.hosts import Source
from ctrl.control.notices import Notice
from ctrl.control.plans import Plan, replies_apart
from ctrl.control.topology import PortRef
from ctrl.fastpath import BatchParser, PuntReason
from ctrl.fastpath.stream import PacketInDecoder
from ctrl.p4rt.entity import PacketIn
from ctrl.p4rt.proto import p4r
from ctrl.p4rt.schema import P4Schema
from ctrl.punt.classify import (
    Classified,
    HostSeen,
    LinkProbe,
    NeedsTunnel,
    classify,
    packet_in_spec,
    parse_packet_ins,
)
from ctrl.punt.frames import Arp
from ctrl.punt.lldp import LldpInfo

ETH_ARP, ETH_RARP, ETH_LLDP = 0x0806, 0x8035, 0x88CC
Batches = Sequence[tuple[str, Sequence[bytes]]]   # (switch, messages) in order
Intake = Callable[[ControlCore, Batches, float], list[Plan]]


@dataclass(frozen=True)
class Decisions:
    plans: list[Plan]
    replies: list[tuple[str, int, bytes]]
    notices: list[Notice]
    metrics: Metrics
    hosts: list[tuple[tuple[int, int], PortRef, int | None]]


def decisions(core: ControlCore, plans: list[Plan]) -> Decisions:
    rest, replies = replies_apart(plans)
    return Decisions(rest, replies, core.take_notices(), replace(core.metrics, quiet=0),
                     [(h.key, h.location, h.ip) for h in core.tracker.hosts()])


def columns(schema: P4Schema) -> Intake:
    decoder = PacketInDecoder(packet_in_spec(schema))

    def run(core: ControlCore, batches: Batches, now: float) -> list[Plan]:
        plans: list[Plan] = []
        for switch, msgs in batches:
            plans += core.punted(switch, decoder.decode(msgs), now)
        return plans
    return run


def mains_path(schema: P4Schema) -> Intake:
    parser = BatchParser()

    def run(core: ControlCore, batches: Batches, now: float) -> list[Plan]:
        plans: list[Plan] = []
        for switch, msgs in batches:
            pkts = [PacketIn.decode(p4r.StreamMessageResponse.FromString(m).packet, schema)
                    for m in msgs]
            seen = classify(parse_packet_ins(parser, pkts), [p.payload for p in pkts])
            plans += core.packet_ins(switch, seen, len(pkts), now)
        return plans
    return run


class DpktPeer:
    """The dpkt loop's work on one batch of messages, its dict of settled hosts kept from
    batch to batch (`filtered`; else every frame goes to the core)."""

    def __init__(self, schema: P4Schema, *, filtered: bool = True) -> None:
        self.names = {f.id: f.name for f in schema.packet_metadata["packet_in"].fields}
        self.settled: dict[tuple[int, int], tuple[str, int, int]] | None = (
            {} if filtered else None)

    def batch(self, core: ControlCore, switch: str, msgs: Sequence[bytes], now: float
              ) -> list[Plan]:
        seen = Classified()
        names, settled = self.names, self.settled
        for m in msgs:
            pin = p4r.StreamMessageResponse.FromString(m).packet
            meta = {names[md.metadata_id]: int.from_bytes(md.value, "big")
                    for md in pin.metadata}
            _dpkt_classify(pin.payload, meta, seen, switch, settled)
        plans = core.packet_ins(switch, seen, len(msgs), now)
        if settled is not None:
            for h in seen.hosts:
                rest = core.at_rest((h.vnet, h.mac))
                if rest is not None and rest[0] == PortRef(switch, h.port):
                    settled[h.vnet, h.mac] = (switch, h.port, rest[1])
                else:
                    settled.pop((h.vnet, h.mac), None)
        return plans


def dpkt_loop(schema: P4Schema, *, filtered: bool = True) -> Intake:
    def run(core: ControlCore, batches: Batches, now: float) -> list[Plan]:
        peer = DpktPeer(schema, filtered=filtered)
        plans: list[Plan] = []
        for switch, msgs in batches:
            plans += peer.batch(core, switch, msgs, now)
        return plans
    return run


def _dpkt_classify(frame: bytes, meta: dict[str, int], out: Classified, switch: str,
                   settled: dict[tuple[int, int], tuple[str, int, int]] | None) -> None:
    """classify() for one frame, read by dpkt (the flood's kinds: ARP, RARP, LLDP)."""
    try:
        eth = dpkt.ethernet.Ethernet(frame)
    except (dpkt.UnpackError, dpkt.NeedData):
        out.malformed += 1
        return
    port, vnet, reason = meta.get("ingress_port", 0), meta.get("vnet_id", 0), \
        meta.get("reason", 0)
    if reason == PuntReason.BRIDGING:
        out.unbridged.append(NeedsTunnel(port, vnet, _int(eth.dst), frame))
        return
    if eth.type == ETH_LLDP:
        info = _lldp(bytes(eth.data))
        if info is None:
            out.ignored += 1
        else:
            out.probes.append(LinkProbe(port, info))
        return
    if eth.type not in (ETH_ARP, ETH_RARP):
        out.ignored += 1
        return
    a = eth.data if isinstance(eth.data, dpkt.arp.ARP) else dpkt.arp.ARP(bytes(eth.data))
    src = _int(eth.src)
    arp = Arp(eth.type, src, _int(eth.dst), a.op, _int(a.sha), _int(a.spa), _int(a.tha),
              _int(a.tpa))
    if not 1 <= arp.oper <= 4 or arp.sha != src:
        out.ignored += 1
        return
    source = (Source.RARP if arp.is_rarp else Source.GARP if arp.is_gratuitous
              else Source.ARP)
    ip = None if arp.is_rarp or arp.spa == 0 else arp.spa
    ask = arp if source is Source.ARP and arp.oper == 1 else None
    if settled is not None and ask is None and vnet:
        rest = settled.get((vnet, arp.sha))
        if rest is not None and rest[:2] == (switch, port) and ip in (None, rest[2]):
            return   # a settled host where it is: nothing to do
    out.hosts.append(HostSeen(port, vnet, arp.sha, ip, source, ask))


def _int(b: Any) -> int:
    return int.from_bytes(b, "big")


def _lldp(body: bytes) -> LldpInfo | None:
    """Chassis id, port id and TTL of our own LLDP frames (dpkt has no LLDP)."""
    ids: list[bytes] = []
    ttl = 0
    pos = 0
    while pos + 2 <= len(body) and len(ids) < 3:
        (head,) = struct.unpack_from("!H", body, pos)
        kind, n = head >> 9, head & 0x1FF
        value = body[pos + 2:pos + 2 + n]
        if kind in (1, 2) and value[:1] == b"\x07":
            ids.append(value[1:])
        elif kind == 3 and n == 2:
            (ttl,) = struct.unpack("!H", value)
            ids.append(b"")
        pos += 2 + n
    if len(ids) < 3 or not ids[1].isdigit():
        return None
    return LldpInfo(ids[0].decode(), int(ids[1]), ttl)
