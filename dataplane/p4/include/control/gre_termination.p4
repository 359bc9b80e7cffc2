// GRE termination: a key-only GRE packet carrying an Ethernet frame, addressed
// to one of this switch's underlay addresses, loses its outer headers and goes
// on as the inner frame in the virtual network named by the key.
#ifndef MOBILITY_GRE_TERMINATION_P4
#define MOBILITY_GRE_TERMINATION_P4

#include "../header.p4"
#include "../size.p4"

control GreTermination(inout headers_t hdr, inout local_metadata_t meta) {
    direct_counter(CounterType.packets_and_bytes) gre_termination_counter;

    @name(".gre_termination.terminate")
    action terminate() {
        meta.vnet_id = hdr.gre_key.key[11:0];
        meta.terminated = true;
        meta.frame_len = meta.frame_len - GRE_DECAP_BYTES;
        meta.l4_dst_port = meta.inner_l4_dst_port;
        hdr.ethernet = hdr.inner_ethernet;
        hdr.arp = hdr.inner_arp;
        hdr.ipv4 = hdr.inner_ipv4;
        hdr.gre.setInvalid();
        hdr.gre_key.setInvalid();
        hdr.inner_ethernet.setInvalid();
        hdr.inner_arp.setInvalid();
        hdr.inner_ipv4.setInvalid();
    }

    @name(".gre_termination")
    table gre_termination {
        key = { hdr.ipv4.dst_addr : exact @name("ipv4_dst"); }
        actions = { terminate; @defaultonly NoAction; }
        const default_action = NoAction;
        counters = gre_termination_counter;
        size = GRE_TERMINATION_TABLE_SIZE;
    }

    apply {
        // Keys name virtual networks 1..4095; a wider key belongs to no one here.
        if (meta.port_kind == PORT_KIND_UNDERLAY && hdr.gre_key.isValid()
                && hdr.gre_key.key[31:12] == 0) {
            gre_termination.apply();
        }
    }
}

#endif
