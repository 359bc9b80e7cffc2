// Constants of the mobility pipeline: EtherTypes, protocol numbers, the CPU
// port, port kinds and the reasons a frame is punted to the controller.
#ifndef MOBILITY_DEFINE_P4
#define MOBILITY_DEFINE_P4

typedef bit<9>  port_t;
typedef bit<48> mac_addr_t;
typedef bit<32> ipv4_addr_t;
typedef bit<12> vnet_id_t;      // virtual network; the VLAN id on fabric links, the GRE key across sites
typedef bit<16> tunnel_id_t;    // 0 means "no tunnel"
typedef bit<16> mcast_group_t;  // 0 means "no group"
typedef bit<8>  punt_reason_t;
typedef bit<2>  port_kind_t;

// bmv2 is started with --cpu-port 255; the Open vSwitch target maps it onto OFPP_CONTROLLER.
const port_t CPU_PORT = 255;

const bit<16> ETHERTYPE_IPV4 = 0x0800;
const bit<16> ETHERTYPE_ARP  = 0x0806;
const bit<16> ETHERTYPE_RARP = 0x8035;
const bit<16> ETHERTYPE_VLAN = 0x8100;
const bit<16> ETHERTYPE_TEB  = 0x6558;  // Transparent Ethernet Bridging, the GRE payload type

const bit<8> IP_PROTO_UDP = 17;
const bit<8> IP_PROTO_GRE = 47;

const bit<8> DEFAULT_TTL = 64;
// Outer IPv4 (20) + GRE with key (8) put in front of the inner Ethernet frame.
const bit<16> GRE_ENCAP_IPV4_BYTES = 28;
// Outer Ethernet (14) + outer IPv4 (20) + GRE with key (8) taken off by termination.
const bit<16> GRE_DECAP_BYTES = 42;
const bit<16> VLAN_BYTES = 4;

// standard_metadata.instance_type of a packet recirculated from egress (bmv2's value).
const bit<32> INSTANCE_TYPE_RECIRC = 4;
// The user metadata a flooded copy keeps on its way back from egress into a tunnel
// (@field_list in header.p4; recirculate_preserving_field_list).
const bit<8> FIELDS_TUNNEL_REPLICA = 1;

// What an ingress port is; set by the ingress_port table.
const port_kind_t PORT_KIND_UNKNOWN  = 0;  // unconfigured: only punts (LLDP) leave it
const port_kind_t PORT_KIND_ACCESS   = 1;  // a hypervisor port: untagged frames of one virtual network
const port_kind_t PORT_KIND_FABRIC   = 2;  // a switch-to-switch link: 802.1Q tag = virtual network
const port_kind_t PORT_KIND_UNDERLAY = 3;  // the WAN side: only GRE addressed to this switch

// packet_in.reason. The punt table's entries carry the first four (the
// controller installs them: ARP 0x0806 -> 1, RARP 0x8035 -> 2, LLDP 0x88cc -> 3,
// IPv4/UDP to port 67 -> 4 (DHCP)); the pipeline itself sets only the last.
//   1 ARP, 2 RARP, 3 LLDP, 4 DHCP
const punt_reason_t PUNT_REASON_BRIDGING = 5;  // a bridging entry sent the frame to the controller

#endif
