/*
 * mobility.p4: the forwarding contract of the VM mobility fabric (P4_16, v1model).
 *
 * Ingress, in order:
 *   packet_out            frames from the controller go where their header says
 *   ingress_port          port kind and virtual network; fabric VLAN tag popped
 *   gre_termination       GRE to this switch's underlay address is stripped
 *   punt                  ARP, RARP, LLDP, DHCP to the controller with a reason
 *   my_station/routing_v4 distributed gateway: host routes with MAC rewrite
 *   bridging              (virtual network, MAC) -> port, tunnel, group, CPU, drop
 *   tunnel_encap/underlay_next_hop  GRE encapsulation and its underlay next hop
 * Egress: a flooded copy for a GRE tunnel (a replica with an instance) goes back
 * to ingress for tunnel_encap; egress_vlan tags frames for fabric links; flood
 * copies skip their ingress port. This file only includes and wires; see include/.
 */
#include <core.p4>
#include <v1model.p4>

#include "include/define.p4"
#include "include/header.p4"
#include "include/size.p4"
#include "include/parser.p4"
#include "include/checksum.p4"
#include "include/control/packet_io.p4"
#include "include/control/port_classification.p4"
#include "include/control/gre_termination.p4"
#include "include/control/routing.p4"
#include "include/control/bridging.p4"
#include "include/control/tunnel_encap.p4"
#include "include/control/egress_vlan.p4"
#include "include/control/tunnel_replica.p4"

control MobilityIngress(inout headers_t hdr,
                        inout local_metadata_t meta,
                        inout standard_metadata_t std_meta) {
    PacketOut() from_cpu;
    PortClassification() port_classification;
    GreTermination() gre_termination;
    Punt() punt;
    Routing() routing;
    Bridging() bridging;
    TunnelEncap() tunnel_encap;

    apply {
        // A recirculated frame is a flooded copy back from egress (TunnelReplica):
        // it only goes into its tunnel.
        if (std_meta.instance_type != INSTANCE_TYPE_RECIRC) {
            if (hdr.packet_out.isValid()) {
                from_cpu.apply(hdr, std_meta);
                return;
            }
            port_classification.apply(hdr, meta, std_meta);
            gre_termination.apply(hdr, meta);
            bool punted;
            punt.apply(hdr, meta, std_meta, punted);
            if (punted) {
                return;
            }
            if (meta.port_kind == PORT_KIND_UNKNOWN
                    || (meta.port_kind == PORT_KIND_UNDERLAY && !meta.terminated)) {
                mark_to_drop(std_meta);
                return;
            }
            routing.apply(hdr, meta, std_meta);
            if (meta.dropped) {
                return;
            }
            bridging.apply(hdr, meta, std_meta);
        }
        tunnel_encap.apply(hdr, meta, std_meta);
    }
}

control MobilityEgress(inout headers_t hdr,
                       inout local_metadata_t meta,
                       inout standard_metadata_t std_meta) {
    EgressVlan() egress_vlan;
    TunnelReplica() tunnel_replica;

    apply {
        if (meta.flooding && std_meta.egress_rid != 0) {
            tunnel_replica.apply(meta, std_meta);
        } else {
            egress_vlan.apply(hdr, meta, std_meta);
        }
    }
}

V1Switch(MobilityParser(),
         MobilityVerifyChecksum(),
         MobilityIngress(),
         MobilityEgress(),
         MobilityComputeChecksum(),
         MobilityDeparser()) main;
