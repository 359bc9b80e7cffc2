"""Packet-ins as they come off the P4Runtime stream (serialized StreamMessageResponses),
and a flood of them: hosts announcing themselves over and over (RARP, gratuitous ARP),
answering and asking (ARP), LLDP from the neighbours, and a few moves."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ctrl.fastpath.stream import MetaSpec
from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.p4rt.proto import p4r
from ctrl.p4rt.schema import P4Schema
from ctrl.punt.classify import packet_in_spec
from ctrl.punt.frames import build_arp
from ctrl.punt.lldp import build_lldp

ETH_ARP, ETH_RARP = 0x0806, 0x8035
BROADCAST = 0xFFFFFFFFFFFF
IDS = {"ingress_port": 1, "reason": 3, "vnet_id": 5}   # mobility.p4's packet_in header
REASONS = {ETH_ARP: 1, ETH_RARP: 2}


def mobility_schema() -> P4Schema:
    return P4Schema.load(BuildPaths(project_root()).p4info)


def mobility_spec() -> MetaSpec:
    return packet_in_spec(mobility_schema())


def message(frame: bytes, port: int, reason: int, vnet: int, *, padded: bool = False,
            extra: tuple[tuple[int, bytes], ...] = ()) -> bytes:
    """A StreamMessageResponse with one PacketIn, as protobuf writes it: metadata values
    canonical (shortest) or padded to their field's bytes, `extra` (id, value) after."""
    def value(v: int, width: int) -> bytes:
        size = (width + 7) // 8 if padded else max(1, (v.bit_length() + 7) // 8)
        return v.to_bytes(size, "big")
    md = [p4r.PacketMetadata(metadata_id=IDS["ingress_port"], value=value(port, 9)),
          p4r.PacketMetadata(metadata_id=IDS["reason"], value=value(reason, 8)),
          p4r.PacketMetadata(metadata_id=IDS["vnet_id"], value=value(vnet, 12))]
    md += [p4r.PacketMetadata(metadata_id=i, value=v) for i, v in extra]
    return p4r.StreamMessageResponse(
        packet=p4r.PacketIn(payload=frame, metadata=md)).SerializeToString()


def rarp(mac: int) -> bytes:
    return build_arp(ETH_RARP, eth_src=mac, eth_dst=BROADCAST, oper=3, sha=mac, spa=0,
                     tha=mac, tpa=0)


def garp(mac: int, ip: int) -> bytes:
    return build_arp(ETH_ARP, eth_src=mac, eth_dst=BROADCAST, oper=1, sha=mac, spa=ip,
                     tha=0, tpa=ip)


def arp_request(mac: int, ip: int, target: int) -> bytes:
    return build_arp(ETH_ARP, eth_src=mac, eth_dst=BROADCAST, oper=1, sha=mac, spa=ip,
                     tha=0, tpa=target)


def arp_reply(mac: int, ip: int, to_mac: int, to_ip: int) -> bytes:
    return build_arp(ETH_ARP, eth_src=mac, eth_dst=to_mac, oper=2, sha=mac, spa=ip,
                     tha=to_mac, tpa=to_ip)


@dataclass(frozen=True, slots=True)
class Punt:
    """One packet-in of the flood: which switch punted it, and the message."""

    switch: str
    message: bytes


@dataclass(frozen=True, slots=True)
class FloodHost:
    vnet: int
    mac: int
    ip: int


def flood(n: int, hosts: list[FloodHost], edges: list[tuple[str, int]],
          lldp: list[tuple[str, int, str, int]], *, moves: int = 10, requests: float = 0.05,
          seed: int = 1) -> list[Punt]:
    """n packet-ins: the hosts spread over the edge ports (switch, port), sending RARP,
    gratuitous ARP and ARP replies again and again, `requests` of them ARP requests for
    another host's address; LLDP over the fabric links (switch, port, neighbour, its
    port) a tenth of the time; `moves` times a host moves to another edge port on the
    way (its first frame there a RARP, as QEMU sends)."""
    rng = random.Random(seed)
    at = {h.mac: edges[i % len(edges)] for i, h in enumerate(hosts)}
    move_at = sorted(rng.sample(range(n // 10, n), moves)) if len(edges) > 1 else []
    out: list[Punt] = []
    for i in range(n):
        if move_at and i == move_at[0]:
            move_at.pop(0)
            h = rng.choice(hosts)
            at[h.mac] = rng.choice([e for e in edges if e != at[h.mac]])
            sw, port = at[h.mac]
            out.append(Punt(sw, message(rarp(h.mac), port, 2, h.vnet)))
            continue
        if lldp and rng.random() < 0.1:
            sw, port, peer, peer_port = rng.choice(lldp)
            frame = build_lldp(peer, peer_port, b"\x02\x00\x00\x00\x00\xfe")
            out.append(Punt(sw, message(frame, port, 3, 0)))
            continue
        h = rng.choice(hosts)
        sw, port = at[h.mac]
        roll = rng.random()
        if roll < requests:
            target = rng.choice(hosts)
            frame = arp_request(h.mac, h.ip, target.ip)
        elif roll < 0.4:
            frame = rarp(h.mac)
        elif roll < 0.7:
            frame = garp(h.mac, h.ip)
        else:
            other = rng.choice(hosts)
            frame = arp_reply(h.mac, h.ip, other.mac, other.ip)
        reason = REASONS[ETH_RARP if frame[12:14] == b"\x80\x35" else ETH_ARP]
        out.append(Punt(sw, message(frame, port, reason, h.vnet)))
    return out
