// Headers and metadata of the mobility pipeline.
#ifndef MOBILITY_HEADER_P4
#define MOBILITY_HEADER_P4

#include "define.p4"

@controller_header("packet_out")
header packet_out_t {
    port_t        egress_port;  // used when mcast_grp is 0
    mcast_group_t mcast_grp;    // non-zero: replicate to this multicast group
    bit<7>        _pad;
}

@controller_header("packet_in")
header packet_in_t {
    port_t        ingress_port;
    bit<7>        _pad0;
    punt_reason_t reason;
    bit<4>        _pad1;
    vnet_id_t     vnet_id;      // virtual network the frame was in (0 if none)
}

header ethernet_t {
    mac_addr_t dst_addr;
    mac_addr_t src_addr;
    bit<16>    ether_type;
}

header vlan_t {
    bit<3>    pcp;
    bit<1>    dei;
    vnet_id_t vid;
    bit<16>   ether_type;
}

// ARP and RARP share this layout (RFC 826, RFC 903).
header arp_t {
    bit<16>     htype;
    bit<16>     ptype;
    bit<8>      hlen;
    bit<8>      plen;
    bit<16>     oper;
    mac_addr_t  sha;
    ipv4_addr_t spa;
    mac_addr_t  tha;
    ipv4_addr_t tpa;
}

header ipv4_t {
    bit<4>      version;
    bit<4>      ihl;
    bit<8>      diffserv;
    bit<16>     total_len;
    bit<16>     identification;
    bit<3>      flags;
    bit<13>     frag_offset;
    bit<8>      ttl;
    bit<8>      protocol;
    bit<16>     hdr_checksum;
    ipv4_addr_t src_addr;
    ipv4_addr_t dst_addr;
}

// RFC 2784 / RFC 2890 base header; only the key-only form is parsed further.
header gre_t {
    bit<1>  checksum_present;
    bit<1>  routing_present;
    bit<1>  key_present;
    bit<1>  seq_present;
    bit<1>  strict_route;
    bit<3>  recursion;
    bit<5>  flags;
    bit<3>  version;
    bit<16> protocol;
}

header gre_key_t {
    bit<32> key;
}

// Read with lookahead only (never extracted), to punt DHCP.
header udp_ports_t {
    bit<16> src_port;
    bit<16> dst_port;
}

struct headers_t {
    packet_out_t packet_out;
    packet_in_t  packet_in;
    ethernet_t   ethernet;
    vlan_t       vlan;
    arp_t        arp;
    ipv4_t       ipv4;
    gre_t        gre;
    gre_key_t    gre_key;
    ethernet_t   inner_ethernet;
    arp_t        inner_arp;
    ipv4_t       inner_ipv4;
}

struct local_metadata_t {
    port_kind_t   port_kind;
    @field_list(FIELDS_TUNNEL_REPLICA)
    vnet_id_t     vnet_id;
    bit<16>       frame_len;        // bytes of the current L2 frame (after any pop or decap)
    bit<16>       l4_dst_port;      // UDP destination port, 0 if none
    bit<16>       inner_l4_dst_port;
    bit<8>        ip_proto;         // punt key: IPv4 protocol, 0 if no IPv4
    bool          terminated;       // GRE was stripped by this switch
    bool          routable;         // my_station hit: the frame is addressed to the gateway
    bool          dropped;          // routing decided to drop
    bool          flooding;         // replicated by a multicast group
    @field_list(FIELDS_TUNNEL_REPLICA)
    tunnel_id_t   tunnel_id;        // non-zero: encapsulate into this tunnel
}

#endif
