// What kind of port a frame came in on, and which virtual network it is in.
// Access ports carry one virtual network untagged; fabric links carry it as the
// 802.1Q VLAN id (popped here); underlay ports carry only GRE to this switch.
#ifndef MOBILITY_PORT_CLASSIFICATION_P4
#define MOBILITY_PORT_CLASSIFICATION_P4

#include "../header.p4"
#include "../size.p4"

control PortClassification(inout headers_t hdr,
                           inout local_metadata_t meta,
                           in standard_metadata_t std_meta) {
    direct_counter(CounterType.packets_and_bytes) ingress_port_counter;

    @name(".ingress_port.set_access")
    action set_access(vnet_id_t vnet_id) {
        meta.port_kind = PORT_KIND_ACCESS;
        meta.vnet_id = vnet_id;
    }

    @name(".ingress_port.set_fabric")
    action set_fabric() {
        meta.port_kind = PORT_KIND_FABRIC;
    }

    @name(".ingress_port.set_underlay")
    action set_underlay() {
        meta.port_kind = PORT_KIND_UNDERLAY;
    }

    @name(".ingress_port.set_unknown")
    action set_unknown() {
        meta.port_kind = PORT_KIND_UNKNOWN;
    }

    @name(".ingress_port")
    table ingress_port {
        key = { std_meta.ingress_port : exact @name("ingress_port"); }
        actions = { set_access; set_fabric; set_underlay; @defaultonly set_unknown; }
        const default_action = set_unknown;
        counters = ingress_port_counter;
        size = INGRESS_PORT_TABLE_SIZE;
    }

    apply {
        ingress_port.apply();
        if (hdr.vlan.isValid()) {
            if (meta.port_kind == PORT_KIND_FABRIC) {
                meta.vnet_id = hdr.vlan.vid;
            } else {
                // A tag where none belongs: the frame is in no virtual network.
                meta.port_kind = PORT_KIND_UNKNOWN;
            }
            hdr.ethernet.ether_type = hdr.vlan.ether_type;
            hdr.vlan.setInvalid();
            meta.frame_len = meta.frame_len - VLAN_BYTES;
        } else if (meta.port_kind == PORT_KIND_FABRIC) {
            // Untagged on a fabric link: only LLDP is expected, and it is punted.
            meta.port_kind = PORT_KIND_UNKNOWN;
        }
    }
}

#endif
