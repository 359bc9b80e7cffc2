"""LLDP (IEEE 802.1AB) frames the controller sends out of fabric ports and reads back.

Chassis id = the switch's name, port id = the P4 port number, both as locally
assigned strings; a frame that comes back on another switch's port proves the
link between the two. Every length is checked; anything malformed is None.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

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


def parse_lldp(frame: bytes) -> LldpInfo | None:
    if len(frame) < 14 or struct.unpack_from("!H", frame, 12)[0] != ETHERTYPE_LLDP:
        return None
    off, chassis, port, ttl = 14, None, None, None
    while off + 2 <= len(frame):
        (head,) = struct.unpack_from("!H", frame, off)
        kind, length = head >> 9, head & 0x1FF
        off += 2
        if off + length > len(frame):
            return None
        value = frame[off:off + length]
        off += length
        if kind == _TLV_END:
            break
        if kind == _TLV_CHASSIS and length >= 2 and value[0] == _SUBTYPE_LOCAL:
            chassis = value[1:].decode("utf-8", "replace")
        elif kind == _TLV_PORT and length >= 2 and value[0] == _SUBTYPE_LOCAL:
            text = value[1:].decode("ascii", "replace")
            port = int(text) if text.isdigit() else None
        elif kind == _TLV_TTL and length == 2:
            (ttl,) = struct.unpack("!H", value)
    if chassis is None or port is None or ttl is None:
        return None
    return LldpInfo(chassis, port, ttl)
