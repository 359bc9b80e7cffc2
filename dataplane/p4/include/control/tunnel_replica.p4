// Flooded copies into GRE tunnels. A multicast group's replica with a non-zero
// instance (egress_rid) is a copy for the GRE tunnel of that id: egress sends it
// back to ingress (recirculated, keeping its virtual network and the tunnel id),
// where tunnel_encap and underlay_next_hop take it as they take any frame bridged
// into a tunnel. The replica's port only queues the copy. A frame that came out of
// a tunnel never goes into another (split horizon: the sites' gateways are a full
// mesh), so such a copy is dropped.
#ifndef MOBILITY_TUNNEL_REPLICA_P4
#define MOBILITY_TUNNEL_REPLICA_P4

#include "../header.p4"

control TunnelReplica(inout local_metadata_t meta, inout standard_metadata_t std_meta) {
    apply {
        if (meta.terminated) {
            mark_to_drop(std_meta);
        } else {
            meta.tunnel_id = (tunnel_id_t) std_meta.egress_rid;
            recirculate_preserving_field_list(FIELDS_TUNNEL_REPLICA);
        }
    }
}

#endif
