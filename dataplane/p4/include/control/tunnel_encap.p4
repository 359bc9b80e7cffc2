// GRE encapsulation (RFC 2784 with the RFC 2890 key): the current frame becomes
// the inner frame, the key is its virtual network, and the outer IPv4 header
// goes from this switch's underlay address to the remote one. underlay_next_hop
// then picks the port and MACs for the outer frame.
#ifndef MOBILITY_TUNNEL_ENCAP_P4
#define MOBILITY_TUNNEL_ENCAP_P4

#include "../header.p4"
#include "../size.p4"

control TunnelEncap(inout headers_t hdr,
                    inout local_metadata_t meta,
                    inout standard_metadata_t std_meta) {
    direct_counter(CounterType.packets_and_bytes) tunnel_encap_counter;
    direct_counter(CounterType.packets_and_bytes) underlay_next_hop_counter;

    @name(".tunnel_encap.encap_gre")
    action encap_gre(ipv4_addr_t src_addr, ipv4_addr_t dst_addr) {
        hdr.inner_ethernet = hdr.ethernet;
        hdr.inner_arp = hdr.arp;
        hdr.inner_ipv4 = hdr.ipv4;
        hdr.arp.setInvalid();

        hdr.ethernet.ether_type = ETHERTYPE_IPV4;  // MACs: underlay_next_hop

        hdr.ipv4.setValid();
        hdr.ipv4.version = 4;
        hdr.ipv4.ihl = 5;
        hdr.ipv4.diffserv = 0;
        hdr.ipv4.total_len = meta.frame_len + GRE_ENCAP_IPV4_BYTES;
        hdr.ipv4.identification = 0;
        hdr.ipv4.flags = 0;
        hdr.ipv4.frag_offset = 0;
        hdr.ipv4.ttl = DEFAULT_TTL;
        hdr.ipv4.protocol = IP_PROTO_GRE;
        hdr.ipv4.hdr_checksum = 0;
        hdr.ipv4.src_addr = src_addr;
        hdr.ipv4.dst_addr = dst_addr;

        hdr.gre.setValid();
        hdr.gre.checksum_present = 0;
        hdr.gre.routing_present = 0;
        hdr.gre.key_present = 1;
        hdr.gre.seq_present = 0;
        hdr.gre.strict_route = 0;
        hdr.gre.recursion = 0;
        hdr.gre.flags = 0;
        hdr.gre.version = 0;
        hdr.gre.protocol = ETHERTYPE_TEB;
        hdr.gre_key.setValid();
        hdr.gre_key.key = (bit<32>) meta.vnet_id;
    }

    @name(".tunnel_encap.drop")
    action encap_drop() {
        mark_to_drop(std_meta);
    }

    @name(".tunnel_encap")
    table tunnel_encap {
        key = { meta.tunnel_id : exact @name("tunnel_id"); }
        actions = { encap_gre; encap_drop; }
        const default_action = encap_drop;
        counters = tunnel_encap_counter;
        size = TUNNEL_ENCAP_TABLE_SIZE;
    }

    @name(".underlay_next_hop.set_next_hop")
    action set_next_hop(port_t port, mac_addr_t src_mac, mac_addr_t dst_mac) {
        std_meta.egress_spec = port;
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
    }

    @name(".underlay_next_hop.drop")
    action next_hop_drop() {
        mark_to_drop(std_meta);
    }

    @name(".underlay_next_hop")
    table underlay_next_hop {
        key = { hdr.ipv4.dst_addr : exact @name("ipv4_dst"); }
        actions = { set_next_hop; next_hop_drop; }
        const default_action = next_hop_drop;
        counters = underlay_next_hop_counter;
        size = UNDERLAY_NEXT_HOP_TABLE_SIZE;
    }

    apply {
        if (meta.tunnel_id != 0) {
            tunnel_encap.apply();
            if (hdr.gre.isValid()) {
                underlay_next_hop.apply();
            }
        }
    }
}

#endif
