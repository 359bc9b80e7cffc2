"""The C parser's record (`fp_record`, ext/fp_parse.h), field by field, as Python reads it.

FIELDS is the one description: the struct that decodes a record is made from it,
and so are the offsets of `RecordBatch.column()`; native.load() checks every
offset against the compiled module before using it.
"""

from __future__ import annotations

import struct

# (name, struct code); names with a "." are a field of a nested struct; None is padding.
FIELDS: tuple[tuple[str | None, str], ...] = (
    ("kind", "B"), ("reject", "B"), ("layers", "H"), ("frame_len", "I"),
    ("ether_type", "H"), ("vlan_tci", "H"), ("inner_ether_type", "H"), (None, "2x"),
    ("eth_dst", "Q"), ("eth_src", "Q"),
    ("meta.in_port", "H"), ("meta.vnet_id", "H"), ("meta.reason", "B"), ("meta.present", "B"),
    (None, "2x"),
    ("arp.sha", "Q"), ("arp.tha", "Q"), ("arp.spa", "I"), ("arp.tpa", "I"), ("arp.oper", "H"),
    (None, "6x"),
    ("ip.src", "I"), ("ip.dst", "I"), ("ip.proto", "B"), ("ip.ttl", "B"), (None, "2x"),
    ("gre.flags", "H"), ("gre.proto", "H"), ("gre.key", "I"),
    ("lldp.chassis_off", "H"), ("lldp.chassis_len", "H"), ("lldp.port_off", "H"),
    ("lldp.port_len", "H"), ("lldp.ttl", "H"), ("lldp.chassis_subtype", "B"),
    ("lldp.port_subtype", "B"),
    ("inner_ip.src", "I"), ("inner_ip.dst", "I"), ("inner_ip.proto", "B"), ("inner_ip.ttl", "B"),
    (None, "2x"),
    ("udp_sport", "H"), ("udp_dport", "H"),
    ("inner_dst", "Q"), ("inner_src", "Q"),
    ("dhcp.chaddr", "Q"), ("dhcp.xid", "I"), ("dhcp.ciaddr", "I"), ("dhcp.yiaddr", "I"),
    ("dhcp.requested_ip", "I"), ("dhcp.op", "B"), ("dhcp.msg_type", "B"), (None, "6x"),
)

RECORD = struct.Struct("=" + "".join(code for _, code in FIELDS))
RECORD_SIZE = RECORD.size  # 168

# Layer bits (enum fp_layer).
L_ETH, L_VLAN, L_ARP, L_IPV4, L_UDP, L_DHCP = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
L_GRE, L_INNER_ETH, L_INNER_ARP, L_INNER_IPV4, L_LLDP, L_META = (
    0x40, 0x80, 0x100, 0x200, 0x400, 0x800)


def _offsets() -> dict[str, tuple[int, str]]:
    out: dict[str, tuple[int, str]] = {}
    prefix = "="
    for name, code in FIELDS:
        if name is not None:
            out[name] = (struct.calcsize(prefix), code)
        prefix += code
    return out


OFFSETS = _offsets()  # name -> (offset in the record, struct code = array typecode)
