// Packet I/O: frames from the controller go where their packet_out header says;
// punt copies the ingress port, the reason and the virtual network into packet_in.
#ifndef MOBILITY_PACKET_IO_P4
#define MOBILITY_PACKET_IO_P4

#include "../header.p4"
#include "../size.p4"

control PacketOut(inout headers_t hdr, inout standard_metadata_t std_meta) {
    apply {
        if (hdr.packet_out.mcast_grp != 0) {
            std_meta.mcast_grp = hdr.packet_out.mcast_grp;
        } else {
            std_meta.egress_spec = hdr.packet_out.egress_port;
        }
        hdr.packet_out.setInvalid();
    }
}

// The frames the controller must see: ARP, RARP, LLDP, DHCP. Keyed on what the
// frame is after VLAN pop and GRE termination, so a VM's RARP is seen from any port.
control Punt(inout headers_t hdr,
             inout local_metadata_t meta,
             inout standard_metadata_t std_meta,
             out bool punted) {
    direct_counter(CounterType.packets_and_bytes) punt_counter;

    @name(".punt.to_cpu")
    action to_cpu(punt_reason_t reason) {
        std_meta.egress_spec = CPU_PORT;
        hdr.packet_in.setValid();
        hdr.packet_in.ingress_port = std_meta.ingress_port;
        hdr.packet_in._pad0 = 0;
        hdr.packet_in.reason = reason;
        hdr.packet_in._pad1 = 0;
        hdr.packet_in.vnet_id = meta.vnet_id;
        punted = true;
    }

    @name(".punt")
    table punt {
        key = {
            hdr.ethernet.ether_type : exact @name("ether_type");
            meta.ip_proto           : exact @name("ip_proto");
            meta.l4_dst_port        : exact @name("l4_dst_port");
        }
        actions = { to_cpu; @defaultonly NoAction; }
        const default_action = NoAction;
        counters = punt_counter;
        size = PUNT_TABLE_SIZE;
    }

    apply {
        punted = false;
        meta.ip_proto = hdr.ipv4.isValid() ? hdr.ipv4.protocol : 8w0;
        punt.apply();
    }
}

#endif
