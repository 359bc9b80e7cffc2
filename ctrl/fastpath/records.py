"""What the packet-in parser makes of a frame: one flat, immutable record.

The same fields, in the same meaning, as `fp_record` in ext/fastpath.h. Fields
that do not apply to a frame are 0 (or b"" for the LLDP ids).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.IntEnum):
    OTHER = 0
    ARP = 1
    RARP = 2
    IPV4 = 3
    GRE = 4
    LLDP = 5


class Reject(enum.IntEnum):
    OK = 0
    TRUNCATED = 1
    BAD_LENGTH = 2
    UNKNOWN = 3


LLDP_ID_MAX = 32


@dataclass(frozen=True, slots=True)
class Meta:
    """P4Runtime packet-in metadata of a frame."""

    in_port: int
    reason: int
    vnet_id: int


@dataclass(frozen=True, slots=True)
class Record:
    kind: Kind = Kind.OTHER
    reject: Reject = Reject.OK
    ether_type: int = 0
    has_vlan: bool = False
    vlan_id: int = 0
    eth_dst: bytes = bytes(6)
    eth_src: bytes = bytes(6)
    arp_oper: int = 0          # ARP/RARP, or GRE's inner ARP
    arp_sha: bytes = bytes(6)
    arp_spa: int = 0
    arp_tha: bytes = bytes(6)
    arp_tpa: int = 0
    ip_src: int = 0
    ip_dst: int = 0
    ip_proto: int = 0
    gre_flags: int = 0
    gre_key: int = 0
    inner_ether_type: int = 0
    inner_dst: bytes = bytes(6)
    inner_src: bytes = bytes(6)
    inner_ip_src: int = 0
    inner_ip_dst: int = 0
    inner_ip_proto: int = 0
    lldp_chassis: bytes = b""
    lldp_port: bytes = b""
    lldp_ttl: int = 0
    meta: Meta | None = None
