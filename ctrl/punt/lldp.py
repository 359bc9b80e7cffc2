"""LLDP (IEEE 802.1AB) frames the controller sends out of fabric ports and reads back.

Chassis id = the switch's name, port id = the P4 port number, both as locally
assigned strings; a frame that comes back on another switch's port proves the
link between the two. Every length is checked; anything malformed is None.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ctrl.fastpath import Lldp, parse_batch

ETHERTYPE_LLDP = 0x88CC
LLDP_MULTICAST = bytes.fromhex("0180c200000e")
_TLV_END, _TLV_CHASSIS, _TLV_PORT, _TLV_TTL = 0, 1, 2, 3
_SUBTYPE_LOCAL = 7


@dataclass(frozen=True, slots=True)
class LldpInfo:
    chassis: str
    port: int
    ttl: int


def _tlv(kind: int, value: bytes) -> bytes:
    return struct.pack("!H", kind << 9 | len(value)) + value


def build_lldp(chassis: str, port: int, src_mac: bytes, ttl: int = 120) -> bytes:
    body = (_tlv(_TLV_CHASSIS, bytes([_SUBTYPE_LOCAL]) + chassis.encode())
            + _tlv(_TLV_PORT, bytes([_SUBTYPE_LOCAL]) + str(port).encode())
            + _tlv(_TLV_TTL, struct.pack("!H", ttl)) + _tlv(_TLV_END, b""))
    frame = LLDP_MULTICAST + src_mac + struct.pack("!H", ETHERTYPE_LLDP) + body
    return frame + bytes(max(0, 60 - len(frame)))


def lldp_info(rec: Lldp) -> LldpInfo | None:
    """What one of our own LLDP frames says, from the fast path's record; None for
    another speaker's (other id subtypes, a port id that is not a number)."""
    if rec.chassis_subtype != _SUBTYPE_LOCAL or rec.port_subtype != _SUBTYPE_LOCAL:
        return None
    text = rec.port_id.decode("ascii", "replace")
    if not text.isdigit() or not rec.chassis_id:
        return None
    return LldpInfo(rec.chassis_id.decode("utf-8", "replace"), int(text), rec.ttl)


def parse_lldp(frame: bytes) -> LldpInfo | None:
    """One frame's LldpInfo (a batch of one: callers with many frames parse them together)."""
    rec = parse_batch([frame])[0]
    return lldp_info(rec.lldp) if rec.ok and rec.lldp is not None else None
