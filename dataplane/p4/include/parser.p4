// Parser and deparser. Only key-only GRE carrying Transparent Ethernet Bridging
// is parsed into its inner frame; any other GRE stays payload.
#ifndef MOBILITY_PARSER_P4
#define MOBILITY_PARSER_P4

#include "header.p4"

parser MobilityParser(packet_in packet,
                      out headers_t hdr,
                      inout local_metadata_t meta,
                      inout standard_metadata_t std_meta) {
    state start {
        meta.frame_len = (bit<16>) std_meta.packet_length;
        transition select(std_meta.ingress_port) {
            CPU_PORT: parse_packet_out;
            default: parse_ethernet;
        }
    }

    state parse_packet_out {
        packet.extract(hdr.packet_out);
        transition parse_ethernet;
    }

    state parse_ethernet {
        packet.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            ETHERTYPE_VLAN: parse_vlan;
            ETHERTYPE_ARP: parse_arp;
            ETHERTYPE_RARP: parse_arp;
            ETHERTYPE_IPV4: parse_ipv4;
            default: accept;
        }
    }

    state parse_vlan {
        packet.extract(hdr.vlan);
        transition select(hdr.vlan.ether_type) {
            ETHERTYPE_ARP: parse_arp;
            ETHERTYPE_RARP: parse_arp;
            ETHERTYPE_IPV4: parse_ipv4;
            default: accept;
        }
    }

    state parse_arp {
        packet.extract(hdr.arp);
        transition accept;
    }

    state parse_ipv4 {
        packet.extract(hdr.ipv4);
        // Options and fragments are forwarded as payload, never looked into.
        transition select(hdr.ipv4.ihl, hdr.ipv4.frag_offset, hdr.ipv4.protocol) {
            (5, 0, IP_PROTO_GRE): parse_gre;
            (5, 0, IP_PROTO_UDP): peek_udp;
            default: accept;
        }
    }

    state peek_udp {
        meta.l4_dst_port = packet.lookahead<udp_ports_t>().dst_port;
        transition accept;
    }

    state parse_gre {
        packet.extract(hdr.gre);
        transition select(hdr.gre.checksum_present, hdr.gre.routing_present,
                          hdr.gre.key_present, hdr.gre.seq_present,
                          hdr.gre.version, hdr.gre.protocol) {
            (0, 0, 1, 0, 0, ETHERTYPE_TEB): parse_gre_key;
            default: accept;
        }
    }

    state parse_gre_key {
        packet.extract(hdr.gre_key);
        transition parse_inner_ethernet;
    }

    state parse_inner_ethernet {
        packet.extract(hdr.inner_ethernet);
        transition select(hdr.inner_ethernet.ether_type) {
            ETHERTYPE_ARP: parse_inner_arp;
            ETHERTYPE_RARP: parse_inner_arp;
            ETHERTYPE_IPV4: parse_inner_ipv4;
            default: accept;
        }
    }

    state parse_inner_arp {
        packet.extract(hdr.inner_arp);
        transition accept;
    }

    state parse_inner_ipv4 {
        packet.extract(hdr.inner_ipv4);
        transition select(hdr.inner_ipv4.ihl, hdr.inner_ipv4.frag_offset, hdr.inner_ipv4.protocol) {
            (5, 0, IP_PROTO_UDP): peek_inner_udp;
            default: accept;
        }
    }

    state peek_inner_udp {
        meta.inner_l4_dst_port = packet.lookahead<udp_ports_t>().dst_port;
        transition accept;
    }
}

control MobilityDeparser(packet_out packet, in headers_t hdr) {
    apply {
        packet.emit(hdr.packet_in);
        packet.emit(hdr.ethernet);
        packet.emit(hdr.vlan);
        packet.emit(hdr.arp);
        packet.emit(hdr.ipv4);
        packet.emit(hdr.gre);
        packet.emit(hdr.gre_key);
        packet.emit(hdr.inner_ethernet);
        packet.emit(hdr.inner_arp);
        packet.emit(hdr.inner_ipv4);
    }
}

#endif
