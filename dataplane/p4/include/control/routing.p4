// The distributed gateway. A frame addressed to the gateway MAC of its virtual
// network (my_station) is routed by exact destination address (routing_v4):
// the switch rewrites both MACs and decrements the TTL, then bridging forwards
// it on the new destination MAC. Host routes let a VM keep its address in any
// subnet.
#ifndef MOBILITY_ROUTING_P4
#define MOBILITY_ROUTING_P4

#include "../header.p4"
#include "../size.p4"

control Routing(inout headers_t hdr,
                inout local_metadata_t meta,
                inout standard_metadata_t std_meta) {
    direct_counter(CounterType.packets_and_bytes) my_station_counter;
    direct_counter(CounterType.packets_and_bytes) routing_v4_counter;

    @name(".my_station.set_routable")
    action set_routable() {
        meta.routable = true;
    }

    @name(".my_station")
    table my_station {
        key = {
            meta.vnet_id            : exact @name("vnet_id");
            hdr.ethernet.dst_addr   : exact @name("eth_dst");
        }
        actions = { set_routable; @defaultonly NoAction; }
        const default_action = NoAction;
        counters = my_station_counter;
        size = MY_STATION_TABLE_SIZE;
    }

    @name(".routing_v4.route")
    action route(mac_addr_t src_mac, mac_addr_t dst_mac) {
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
        hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
    }

    @name(".routing_v4.drop")
    action drop() {
        mark_to_drop(std_meta);
        meta.dropped = true;
    }

    @name(".routing_v4")
    table routing_v4 {
        key = {
            meta.vnet_id       : exact @name("vnet_id");
            hdr.ipv4.dst_addr  : exact @name("ipv4_dst");
        }
        actions = { route; drop; }
        // No host route: nowhere to send it.
        const default_action = drop;
        counters = routing_v4_counter;
        size = ROUTING_V4_TABLE_SIZE;
    }

    apply {
        if (hdr.ipv4.isValid() && hdr.ipv4.ihl == 5) {
            my_station.apply();
            if (meta.routable) {
                if (hdr.ipv4.ttl <= 1) {
                    mark_to_drop(std_meta);
                    meta.dropped = true;
                } else {
                    routing_v4.apply();
                }
            }
        }
    }
}

#endif
