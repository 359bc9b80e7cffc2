// Egress: frames leaving on a fabric link carry their virtual network as an
// 802.1Q tag; a flooded copy never goes back out of the port it came in on;
// frames from the controller leave exactly as the controller built them.
#ifndef MOBILITY_EGRESS_VLAN_P4
#define MOBILITY_EGRESS_VLAN_P4

#include "../header.p4"
#include "../size.p4"

control EgressVlan(inout headers_t hdr,
                   inout local_metadata_t meta,
                   inout standard_metadata_t std_meta) {
    direct_counter(CounterType.packets_and_bytes) egress_vlan_counter;

    @name(".egress_vlan.push_vnet_tag")
    action push_vnet_tag() {
        hdr.vlan.setValid();
        hdr.vlan.pcp = 0;
        hdr.vlan.dei = 0;
        hdr.vlan.vid = meta.vnet_id;
        hdr.vlan.ether_type = hdr.ethernet.ether_type;
        hdr.ethernet.ether_type = ETHERTYPE_VLAN;
    }

    @name(".egress_vlan")
    table egress_vlan {
        key = { std_meta.egress_port : exact @name("egress_port"); }
        actions = { push_vnet_tag; @defaultonly NoAction; }
        const default_action = NoAction;
        counters = egress_vlan_counter;
        size = EGRESS_VLAN_TABLE_SIZE;
    }

    apply {
        if (meta.flooding && std_meta.egress_port == std_meta.ingress_port) {
            mark_to_drop(std_meta);
        } else if (std_meta.egress_port != CPU_PORT && meta.tunnel_id == 0
                   && meta.port_kind != PORT_KIND_UNKNOWN) {
            egress_vlan.apply();
        }
    }
}

#endif
