"""What the packet-in parser makes of a frame: a record of immutable parts.

These mean what `fp_record` of ext/fp_parse.h means. A part (`eth`, `arp`, ...)
is there only if the frame held it whole; the parts parsed before a frame was
rejected stay. Numbers are plain ints: MAC addresses 48-bit, IPv4 addresses
32-bit, as in ctrl/punt/frames.py.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ctrl.fastpath.errors import FrameError

PORT_MAX = (1 << 9) - 1     # ingress_port is 9 bits in mobility.p4
VNET_MAX = (1 << 12) - 1    # vnet_id is 12 bits
FRAME_MAX = 65535           # longer frames are rejected with BAD_LENGTH


class Kind(enum.IntEnum):
    """What a frame is. ARP..DHCP are numbered as mobility.p4's punt reasons."""

    OTHER = 0   # not reached (a short frame) or an EtherType the parser does not know
    ARP = 1
    RARP = 2
    LLDP = 3
    DHCP = 4    # IPv4 / UDP between ports 67 and 68
    IPV4 = 5    # any other IPv4
    GRE = 6     # IPv4 / GRE


class Reject(enum.IntEnum):
    """Why a frame was rejected."""

    NONE = 0
    TRUNCATED = 1    # the frame ends inside a header it announces
    BAD_LENGTH = 2   # a length field is impossible (IHL < 5, UDP length < 8, ...)
    UNKNOWN = 3      # a protocol or version the parser does not know
    MALFORMED = 4    # a field breaks its protocol (LLDP TLV order, DHCP magic cookie)


class PuntReason(enum.IntEnum):
    """packet_in.reason of mobility.p4."""

    ARP = 1
    RARP = 2
    LLDP = 3
    DHCP = 4
    BRIDGING = 5


@dataclass(frozen=True, slots=True)
class Meta:
    """The P4Runtime PacketIn.metadata of a frame (mobility.p4's packet_in header)."""

    in_port: int
    reason: int
    vnet_id: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.in_port <= PORT_MAX:
            raise FrameError(f"ingress_port {self.in_port} is not 9 bits")
        if not 0 <= self.reason <= 0xFF:
            raise FrameError(f"reason {self.reason} is not 8 bits")
        if not 0 <= self.vnet_id <= VNET_MAX:
            raise FrameError(f"vnet_id {self.vnet_id} is not 12 bits")


@dataclass(frozen=True, slots=True)
class Ethernet:
    dst: int
    src: int
    ether_type: int   # after the VLAN tag, if there is one


@dataclass(frozen=True, slots=True)
class Vlan:
    """One 802.1Q tag; on fabric links its VID is the virtual network."""

    tci: int

    @property
    def vid(self) -> int:
        return self.tci & 0x0FFF

    @property
    def pcp(self) -> int:
        return self.tci >> 13

    @property
    def dei(self) -> bool:
        return bool(self.tci & 0x1000)


@dataclass(frozen=True, slots=True)
class Arp:
    """ARP or RARP (RFC 826, RFC 903) with Ethernet and IPv4 addresses."""

    oper: int
    sha: int
    spa: int
    tha: int
    tpa: int


@dataclass(frozen=True, slots=True)
class Ipv4:
    src: int
    dst: int
    proto: int
    ttl: int


@dataclass(frozen=True, slots=True)
class Udp:
    sport: int
    dport: int


@dataclass(frozen=True, slots=True)
class Gre:
    flags: int   # the first 16 bits: C R K S, reserved, version
    proto: int   # 0x6558: Ethernet inside (Transparent Ethernet Bridging)
    key: int     # 0 unless the K bit is set; mobility.p4's key is the virtual network

    @property
    def has_key(self) -> bool:
        return bool(self.flags & 0x2000)


@dataclass(frozen=True, slots=True)
class Lldp:
    """The mandatory TLVs of an LLDPDU (IEEE 802.1AB)."""

    chassis_subtype: int
    chassis_id: bytes
    port_subtype: int
    port_id: bytes
    ttl: int


@dataclass(frozen=True, slots=True)
class Dhcp:
    """A DHCP message (RFC 2131): who asks (chaddr) and what."""

    op: int            # 1 request, 2 reply
    xid: int
    ciaddr: int
    yiaddr: int
    chaddr: int        # the client's MAC address
    msg_type: int      # option 53 (1 DISCOVER, 3 REQUEST, ...), 0 if absent (BOOTP)
    requested_ip: int  # option 50, 0 if absent


@dataclass(frozen=True, slots=True)
class Record:
    """One frame, parsed. `inner_*` are what GRE carries; `arp` is the frame's own
    ARP or RARP, `inner_arp` one carried in GRE."""

    kind: Kind
    reject: Reject
    frame_len: int
    eth: Ethernet | None = None
    vlan: Vlan | None = None
    arp: Arp | None = None
    ipv4: Ipv4 | None = None
    udp: Udp | None = None
    dhcp: Dhcp | None = None
    gre: Gre | None = None
    inner_eth: Ethernet | None = None
    inner_arp: Arp | None = None
    inner_ipv4: Ipv4 | None = None
    lldp: Lldp | None = None
    meta: Meta | None = None

    @property
    def ok(self) -> bool:
        return self.reject is Reject.NONE
