// L2 forwarding on (virtual network, destination MAC): to a port (a local VM or
// the next hop on a fabric link), into a GRE tunnel, to a multicast group, to
// the controller, or drop. A miss drops: nothing is flooded unless a group says so.
#ifndef MOBILITY_BRIDGING_P4
#define MOBILITY_BRIDGING_P4

#include "../header.p4"
#include "../size.p4"

control Bridging(inout headers_t hdr,
                 inout local_metadata_t meta,
                 inout standard_metadata_t std_meta) {
    direct_counter(CounterType.packets_and_bytes) bridging_counter;

    @name(".bridging.forward")
    action forward(port_t port) {
        std_meta.egress_spec = port;
    }

    @name(".bridging.to_tunnel")
    action to_tunnel(tunnel_id_t tunnel_id) {
        meta.tunnel_id = tunnel_id;
    }

    @name(".bridging.flood")
    action flood(mcast_group_t group) {
        std_meta.mcast_grp = group;
        meta.flooding = true;
    }

    @name(".bridging.to_cpu")
    action to_cpu() {
        std_meta.egress_spec = CPU_PORT;
        hdr.packet_in.setValid();
        hdr.packet_in.ingress_port = std_meta.ingress_port;
        hdr.packet_in._pad0 = 0;
        hdr.packet_in.reason = PUNT_REASON_BRIDGING;
        hdr.packet_in._pad1 = 0;
        hdr.packet_in.vnet_id = meta.vnet_id;
    }

    @name(".bridging.drop")
    action drop() {
        mark_to_drop(std_meta);
    }

    @name(".bridging")
    table bridging {
        key = {
            meta.vnet_id          : exact @name("vnet_id");
            hdr.ethernet.dst_addr : exact @name("eth_dst");
        }
        actions = { forward; to_tunnel; flood; to_cpu; drop; }
        const default_action = drop;
        counters = bridging_counter;
        size = BRIDGING_TABLE_SIZE;
    }

    apply {
        bridging.apply();
    }
}

#endif
