/* Packet-in parsing: punted frames -> fixed-size records, many frames per call.
 *
 * fp_parse_batch() reads n frames laid end to end in one buffer, lens[i] bytes
 * each: frame i is buf[lens[0] + .. + lens[i-1] ..][0 .. lens[i]). It fills out[i] for each
 * frame and returns FP_OK, or a negative FP_E_* code before touching `out` when
 * the arguments are inconsistent. It never reads outside a frame, allocates
 * nothing, and keeps no state between calls. The P4Runtime packet-in metadata
 * of the frames, if given, come as parallel arrays (fp_meta_cols) and are
 * copied into the records.
 *
 * A record says what the frame is (kind), why it was rejected if it was
 * (reject), and which parts were parsed whole (layers, FP_L_* bits). The parts
 * parsed before a reject stay filled in; a part whose bit is clear is all zero.
 * All numbers are in host byte order; MAC addresses are 48-bit integers.
 *
 * ctrl/fastpath/parse_ref.py is the same parser in Python: the two give
 * identical records (tests/test_fastpath_parse.py), and ext/fuzz/ runs this
 * one under AddressSanitizer and UndefinedBehaviorSanitizer.
 */
#ifndef MOBILITY_FP_PARSE_H
#define MOBILITY_FP_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* cdef-begin: from here to cdef-end, ext/build_fastpath.py hands the text to cffi. */

/* What a frame is; the first four equal the packet_in reasons of mobility.p4. */
enum fp_kind {
    FP_KIND_OTHER = 0,  /* not reached, or an EtherType the parser does not know */
    FP_KIND_ARP = 1,
    FP_KIND_RARP = 2,
    FP_KIND_LLDP = 3,
    FP_KIND_DHCP = 4,   /* IPv4 / UDP 67 <-> 68 */
    FP_KIND_IPV4 = 5,   /* any other IPv4 */
    FP_KIND_GRE = 6     /* IPv4 / GRE */
};

/* Why a frame was rejected. */
enum fp_reject {
    FP_REJECT_NONE = 0,
    FP_REJECT_TRUNCATED = 1,   /* the frame ends inside a header it announces */
    FP_REJECT_BAD_LENGTH = 2,  /* a length field is impossible (IHL < 5, UDP length < 8, ...) */
    FP_REJECT_UNKNOWN = 3,     /* a protocol or version the parser does not know */
    FP_REJECT_MALFORMED = 4    /* a field breaks its protocol (LLDP TLV order, DHCP cookie) */
};

/* Bits of fp_record.layers: the parts parsed whole. */
enum fp_layer {
    FP_L_ETH = 0x0001,
    FP_L_VLAN = 0x0002,
    FP_L_ARP = 0x0004,         /* ARP or RARP of the frame itself */
    FP_L_IPV4 = 0x0008,
    FP_L_UDP = 0x0010,
    FP_L_DHCP = 0x0020,
    FP_L_GRE = 0x0040,
    FP_L_INNER_ETH = 0x0080,   /* Ethernet inside GRE (Transparent Ethernet Bridging) */
    FP_L_INNER_ARP = 0x0100,   /* ARP or RARP inside GRE: fp_record.arp holds it */
    FP_L_INNER_IPV4 = 0x0200,
    FP_L_LLDP = 0x0400,
    FP_L_META = 0x0800         /* P4Runtime packet-in metadata was given */
};

/* Return codes of the calls. */
enum fp_status {
    FP_OK = 0,
    FP_E_NULL = -1,       /* a required pointer is NULL */
    FP_E_BOUNDS = -2,     /* the frames' lengths add up to more than the buffer */
    FP_E_META = -3,       /* metadata out of range (port > 511, vnet > 4095, present > 1) */
    FP_E_RANGE = -4,      /* a node, link or destination out of range */
    FP_E_GRAPH = -5,      /* a graph that is not well formed (self loop, weights) */
    FP_E_STATE = -6,      /* a link already in the state asked for */
    FP_E_MALFORMED = -7,  /* a P4Runtime message protobuf's parser refuses too */
    FP_E_UNSUPPORTED = -8, /* a P4Runtime message only protobuf's parser can tell about */
    FP_E_CAPACITY = -9,   /* the caller's arrays are too small (the sizes needed are given) */
    FP_E_SCHEMA = -10     /* a compiled P4Info whose arrays do not hold together */
};

#define FP_FRAME_MAX 65535  /* longer frames are rejected (BAD_LENGTH), nothing parsed */

typedef struct fp_meta {     /* P4Runtime PacketIn.metadata of one frame, in its record */
    uint16_t in_port;        /* ingress_port, 9 bits */
    uint16_t vnet_id;        /* 12 bits */
    uint8_t reason;          /* 1 ARP, 2 RARP, 3 LLDP, 4 DHCP, 5 bridging */
    uint8_t present;         /* 1: the frame came with metadata */
    uint8_t _pad[2];
} fp_meta;

typedef struct fp_meta_cols { /* the metadata of n frames, field by field */
    const uint16_t *in_port;  /* n values < 512 */
    const uint8_t *reason;    /* n values */
    const uint16_t *vnet_id;  /* n values < 4096 */
    const uint8_t *present;   /* n flags 0 / 1; NULL: every frame has metadata */
} fp_meta_cols;

typedef struct fp_arp {      /* ARP / RARP, RFC 826 / RFC 903, Ethernet + IPv4 only */
    uint64_t sha;
    uint64_t tha;
    uint32_t spa;
    uint32_t tpa;
    uint16_t oper;
    uint8_t _pad[6];
} fp_arp;

typedef struct fp_ipv4 {
    uint32_t src;
    uint32_t dst;
    uint8_t proto;
    uint8_t ttl;
    uint16_t _pad;
} fp_ipv4;

typedef struct fp_gre {
    uint16_t flags;          /* first 16 bits: C R K S ... version */
    uint16_t proto;
    uint32_t key;            /* 0 unless K is set */
} fp_gre;

typedef struct fp_lldp {     /* the three mandatory TLVs of IEEE 802.1AB */
    uint16_t chassis_off;    /* chassis id: frame[chassis_off .. + chassis_len) */
    uint16_t chassis_len;
    uint16_t port_off;       /* port id: frame[port_off .. + port_len) */
    uint16_t port_len;
    uint16_t ttl;
    uint8_t chassis_subtype;
    uint8_t port_subtype;
} fp_lldp;

typedef struct fp_dhcp {     /* RFC 2131 */
    uint64_t chaddr;         /* client MAC */
    uint32_t xid;
    uint32_t ciaddr;
    uint32_t yiaddr;
    uint32_t requested_ip;   /* option 50, 0 if absent */
    uint8_t op;              /* 1 request, 2 reply */
    uint8_t msg_type;        /* option 53, 0 if absent (plain BOOTP) */
    uint8_t _pad[6];
} fp_dhcp;

typedef struct fp_record {
    uint8_t kind;            /* enum fp_kind */
    uint8_t reject;          /* enum fp_reject */
    uint16_t layers;         /* enum fp_layer bits */
    uint32_t frame_len;
    uint16_t ether_type;     /* after the VLAN tag, if any */
    uint16_t vlan_tci;       /* PCP 3, DEI 1, VID 12 bits */
    uint16_t inner_ether_type;
    uint16_t _pad;
    uint64_t eth_dst;
    uint64_t eth_src;
    fp_meta meta;
    fp_arp arp;              /* FP_L_ARP or FP_L_INNER_ARP */
    fp_ipv4 ip;
    fp_gre gre;
    fp_lldp lldp;
    fp_ipv4 inner_ip;
    uint16_t udp_sport;
    uint16_t udp_dport;
    uint64_t inner_dst;
    uint64_t inner_src;
    fp_dhcp dhcp;
} fp_record;

int fp_parse_batch(const uint8_t *buf, size_t buf_len, const uint32_t *lens, size_t n,
                   const fp_meta_cols *meta, fp_record *out);

/* One field of n records, out[i] = the `width` bytes at `offset` in recs[i]: a
 * column to scan without making a record per frame. width 1, 2, 4 or 8, and
 * offset + width within fp_record, else FP_E_RANGE. */
int fp_column(const fp_record *recs, size_t n, size_t offset, size_t width, uint8_t *out);

/* Several fields of the records idx[0 .. n_idx) (each < n), row by row: out[j * n_fields
 * + k] = field k (offsets[k], widths[k] bytes, as fp_column reads it) of recs[idx[j]],
 * widened to 64 bits. The few rows of a batch a caller looks at, in one call. */
int fp_rows(const fp_record *recs, size_t n, const uint32_t *idx, size_t n_idx,
            const uint32_t *offsets, const uint8_t *widths, size_t n_fields, uint64_t *out);

/* cdef-end */

/* One frame into *r (cleared first, frame_len set): what fp_parse_batch does for each
 * frame, without metadata. For the other C files of the fast path (fp_punt.c). */
void fp_parse_frame(const uint8_t *f, size_t len, fp_record *r);

#endif
