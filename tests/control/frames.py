"""Punted frames as the control core takes them: a batch of packet-ins, classified."""

from __future__ import annotations

from ctrl.fastpath import BatchParser
from ctrl.p4rt.entity import PacketIn
from ctrl.punt.classify import Classified, classify, parse_packet_ins
from ctrl.punt.frames import rarp_announcement

MAC = 0x020000000101


def punted(*pkts: PacketIn) -> Classified:
    return classify(parse_packet_ins(BatchParser(), pkts), [p.payload for p in pkts])


def rarp(port: int, mac: int = MAC, vnet: int = 10) -> Classified:
    return punted(PacketIn(rarp_announcement(mac), {"ingress_port": port, "reason": 2,
                                                    "vnet_id": vnet}))
