/* The controller's fast path: parsing punted frames into fixed records.
 *
 * fp_parse_batch() reads n frames laid end to end in one buffer (frame i is
 * data[offsets[i] .. offsets[i] + lengths[i])) and fills out[i]. It never
 * reads outside a frame, nor outside the buffer it was given, allocates
 * nothing, and returns how many frames it parsed (n, or 0 on bad arguments).
 * ctrl/fastpath/parse_ref.py is the same parser in Python; the two must give
 * identical records.
 */
#ifndef MOBILITY_FASTPATH_H
#define MOBILITY_FASTPATH_H

#include <stddef.h>
#include <stdint.h>

enum fp_kind { FP_OTHER = 0, FP_ARP = 1, FP_RARP = 2, FP_IPV4 = 3, FP_GRE = 4, FP_LLDP = 5 };
enum fp_reject { FP_OK = 0, FP_TRUNCATED = 1, FP_BAD_LENGTH = 2, FP_UNKNOWN = 3 };

#define FP_LLDP_ID_MAX 32

typedef struct fp_record {
    uint8_t kind;
    uint8_t reject;
    uint8_t has_vlan;
    uint8_t ip_proto;
    uint16_t ether_type;
    uint16_t vlan_id;
    uint8_t eth_dst[6];
    uint8_t eth_src[6];
    uint16_t arp_oper;       /* ARP/RARP, or the inner ARP of GRE */
    uint16_t gre_flags;
    uint8_t arp_sha[6];
    uint8_t arp_tha[6];
    uint32_t arp_spa;
    uint32_t arp_tpa;
    uint32_t ip_src;
    uint32_t ip_dst;
    uint32_t gre_key;
    uint16_t inner_ether_type;
    uint16_t lldp_ttl;
    uint8_t inner_dst[6];
    uint8_t inner_src[6];
    uint32_t inner_ip_src;
    uint32_t inner_ip_dst;
    uint8_t inner_ip_proto;
    uint8_t chassis_len;
    uint8_t port_len;
    uint8_t has_meta;
    uint16_t in_port;        /* P4Runtime packet-in metadata, when given */
    uint8_t reason;
    uint8_t pad0;
    uint16_t vnet_id;
    uint16_t pad1;
    uint8_t chassis[FP_LLDP_ID_MAX];
    uint8_t port_id[FP_LLDP_ID_MAX];
} fp_record;

size_t fp_parse_batch(const uint8_t *data, size_t data_len, const uint32_t *offsets,
                      const uint32_t *lengths, size_t n, fp_record *out);

/* Packet-in metadata for frame i: in_port[i], reason[i], vnet_id[i]. */
void fp_set_meta(fp_record *out, size_t n, const uint16_t *in_port, const uint8_t *reason,
                 const uint16_t *vnet_id);

#endif
