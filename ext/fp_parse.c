/* Packet-in parsing; see fp_parse.h for the contract.
 *
 * Every header is read as f[off .. off + want) only after have(off, want, end)
 * said those bytes lie inside [0, end), where `end` is the frame length or the
 * end of the enclosing IPv4 / UDP payload. Each parse_* function returns a
 * reject code (FP_REJECT_NONE when the part was parsed whole) and sets its
 * layer bit only then.
 */
#include "fp_parse.h"

#include <string.h>

_Static_assert(sizeof(fp_meta) == 8, "fp_meta layout");
_Static_assert(sizeof(fp_arp) == 32, "fp_arp layout");
_Static_assert(sizeof(fp_record) == 168, "fp_record layout (ctrl/fastpath/parse.py)");

enum {
    ETH_HLEN = 14,
    ETHERTYPE_IPV4 = 0x0800,
    ETHERTYPE_ARP = 0x0806,
    ETHERTYPE_RARP = 0x8035,
    ETHERTYPE_VLAN = 0x8100,
    ETHERTYPE_QINQ = 0x88a8,
    ETHERTYPE_LLDP = 0x88cc,
    ETHERTYPE_TEB = 0x6558,
    IP_PROTO_UDP = 17,
    IP_PROTO_GRE = 47,
    GRE_C = 0x8000,
    GRE_R = 0x4000,
    GRE_K = 0x2000,
    GRE_S = 0x1000,
    GRE_VERSION = 0x0007,
    DHCP_SERVER_PORT = 67,
    DHCP_CLIENT_PORT = 68,
    BOOTP_FIXED = 236,
    DHCP_COOKIE = 0x63825363u,
};

/* [off, off + want) lies inside [0, end). Written so that nothing overflows. */
static inline int have(size_t off, size_t want, size_t end) {
    return off <= end && want <= end - off;
}

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

static inline uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t be48(const uint8_t *p) {
    return ((uint64_t)be16(p) << 32) | be32(p + 2);
}

/* ARP or RARP at f[off]; Ethernet hardware and IPv4 protocol addresses only. */
static int parse_arp(const uint8_t *f, size_t off, size_t end, fp_arp *a) {
    if (!have(off, 8, end)) return FP_REJECT_TRUNCATED;
    const uint8_t *p = f + off;
    if (be16(p) != 1 || be16(p + 2) != ETHERTYPE_IPV4) return FP_REJECT_UNKNOWN;
    if (p[4] != 6 || p[5] != 4) return FP_REJECT_BAD_LENGTH;
    if (!have(off, 28, end)) return FP_REJECT_TRUNCATED;
    a->oper = be16(p + 6);
    a->sha = be48(p + 8);
    a->spa = be32(p + 14);
    a->tha = be48(p + 18);
    a->tpa = be32(p + 24);
    return FP_REJECT_NONE;
}

/* IPv4 header at f[off]. On success *payload and *payload_end bound what it
 * carries (Ethernet padding after total_len excluded) and *first tells whether
 * this is the first (or only) fragment, the only one with a transport header. */
static int parse_ipv4(const uint8_t *f, size_t off, size_t end, fp_ipv4 *ip, size_t *payload,
                      size_t *payload_end, int *first) {
    if (!have(off, 20, end)) return FP_REJECT_TRUNCATED;
    const uint8_t *p = f + off;
    if ((p[0] >> 4) != 4) return FP_REJECT_UNKNOWN;
    size_t ihl = (size_t)(p[0] & 0x0f) * 4;
    if (ihl < 20) return FP_REJECT_BAD_LENGTH;
    if (!have(off, ihl, end)) return FP_REJECT_TRUNCATED;
    size_t total = be16(p + 2);
    if (total < ihl) return FP_REJECT_BAD_LENGTH;
    if (!have(off, total, end)) return FP_REJECT_TRUNCATED;
    ip->src = be32(p + 12);
    ip->dst = be32(p + 16);
    ip->proto = p[9];
    ip->ttl = p[8];
    *payload = off + ihl;
    *payload_end = off + total;
    *first = (be16(p + 6) & 0x1fff) == 0;
    return FP_REJECT_NONE;
}

/* DHCP (BOOTP with the magic cookie) in f[off .. end): the UDP payload. */
static int parse_dhcp(const uint8_t *f, size_t off, size_t end, fp_dhcp *d) {
    if (!have(off, BOOTP_FIXED + 4, end)) return FP_REJECT_TRUNCATED;
    const uint8_t *p = f + off;
    if (p[0] != 1 && p[0] != 2) return FP_REJECT_MALFORMED;
    if (p[1] != 1 || p[2] != 6) return FP_REJECT_UNKNOWN; /* not Ethernet addresses */
    if (be32(p + BOOTP_FIXED) != DHCP_COOKIE) return FP_REJECT_MALFORMED;
    uint8_t msg_type = 0;
    uint32_t requested = 0;
    size_t pos = off + BOOTP_FIXED + 4;
    while (pos < end) {
        uint8_t code = f[pos];
        if (code == 255) break;      /* end */
        if (code == 0) {             /* pad */
            pos++;
            continue;
        }
        if (!have(pos, 2, end)) return FP_REJECT_TRUNCATED;
        size_t len = f[pos + 1];
        if (!have(pos + 2, len, end)) return FP_REJECT_TRUNCATED;
        const uint8_t *v = f + pos + 2;
        if (code == 53) {
            if (len != 1) return FP_REJECT_BAD_LENGTH;
            msg_type = v[0];
        } else if (code == 50) {
            if (len != 4) return FP_REJECT_BAD_LENGTH;
            requested = be32(v);
        }
        pos += 2 + len;
    }
    d->op = p[0];
    d->xid = be32(p + 4);
    d->ciaddr = be32(p + 12);
    d->yiaddr = be32(p + 16);
    d->chaddr = be48(p + 28);
    d->msg_type = msg_type;
    d->requested_ip = requested;
    return FP_REJECT_NONE;
}

/* UDP in f[off .. end), the IPv4 payload; DHCP if the ports say so. */
static int parse_udp(const uint8_t *f, size_t off, size_t end, fp_record *r) {
    if (!have(off, 8, end)) return FP_REJECT_TRUNCATED;
    const uint8_t *p = f + off;
    size_t len = be16(p + 4);
    if (len < 8) return FP_REJECT_BAD_LENGTH;
    if (!have(off, len, end)) return FP_REJECT_TRUNCATED;
    r->udp_sport = be16(p);
    r->udp_dport = be16(p + 2);
    r->layers |= FP_L_UDP;
    if (!((r->udp_sport == DHCP_CLIENT_PORT && r->udp_dport == DHCP_SERVER_PORT)
          || (r->udp_sport == DHCP_SERVER_PORT && r->udp_dport == DHCP_CLIENT_PORT)))
        return FP_REJECT_NONE;
    r->kind = FP_KIND_DHCP;
    int rc = parse_dhcp(f, off + 8, off + len, &r->dhcp);
    if (rc == FP_REJECT_NONE) r->layers |= FP_L_DHCP;
    return rc;
}

/* What GRE carries at f[off .. end): Ethernet (Transparent Ethernet Bridging)
 * and then ARP, RARP or IPv4; or IPv4 directly. */
static int parse_gre_payload(const uint8_t *f, size_t off, size_t end, fp_record *r) {
    size_t payload, payload_end;
    int first, rc;
    if (r->gre.proto == ETHERTYPE_IPV4) {
        rc = parse_ipv4(f, off, end, &r->inner_ip, &payload, &payload_end, &first);
        if (rc == FP_REJECT_NONE) r->layers |= FP_L_INNER_IPV4;
        return rc;
    }
    if (r->gre.proto != ETHERTYPE_TEB) return FP_REJECT_NONE;
    if (!have(off, ETH_HLEN, end)) return FP_REJECT_TRUNCATED;
    r->inner_dst = be48(f + off);
    r->inner_src = be48(f + off + 6);
    r->inner_ether_type = be16(f + off + 12);
    r->layers |= FP_L_INNER_ETH;
    off += ETH_HLEN;
    switch (r->inner_ether_type) {
    case ETHERTYPE_ARP:
    case ETHERTYPE_RARP:
        rc = parse_arp(f, off, end, &r->arp);
        if (rc == FP_REJECT_NONE) r->layers |= FP_L_INNER_ARP;
        return rc;
    case ETHERTYPE_IPV4:
        rc = parse_ipv4(f, off, end, &r->inner_ip, &payload, &payload_end, &first);
        if (rc == FP_REJECT_NONE) r->layers |= FP_L_INNER_IPV4;
        return rc;
    default:
        return FP_REJECT_NONE;
    }
}

/* GRE (RFC 2784 / RFC 2890) in f[off .. end), the IPv4 payload. */
static int parse_gre(const uint8_t *f, size_t off, size_t end, fp_record *r) {
    r->kind = FP_KIND_GRE;
    if (!have(off, 4, end)) return FP_REJECT_TRUNCATED;
    uint16_t flags = be16(f + off);
    if ((flags & GRE_VERSION) != 0 || (flags & GRE_R) != 0) return FP_REJECT_UNKNOWN;
    size_t hlen = 4u + ((flags & GRE_C) ? 4u : 0u) + ((flags & GRE_K) ? 4u : 0u)
                  + ((flags & GRE_S) ? 4u : 0u);
    if (!have(off, hlen, end)) return FP_REJECT_TRUNCATED;
    r->gre.flags = flags;
    r->gre.proto = be16(f + off + 2);
    if (flags & GRE_K) r->gre.key = be32(f + off + ((flags & GRE_C) ? 8 : 4));
    r->layers |= FP_L_GRE;
    return parse_gre_payload(f, off + hlen, end, r);
}

static int parse_ipv4_frame(const uint8_t *f, size_t off, size_t end, fp_record *r) {
    size_t payload, payload_end;
    int first;
    r->kind = FP_KIND_IPV4;
    int rc = parse_ipv4(f, off, end, &r->ip, &payload, &payload_end, &first);
    if (rc != FP_REJECT_NONE) return rc;
    r->layers |= FP_L_IPV4;
    if (!first) return FP_REJECT_NONE;
    if (r->ip.proto == IP_PROTO_GRE) return parse_gre(f, payload, payload_end, r);
    if (r->ip.proto == IP_PROTO_UDP) return parse_udp(f, payload, payload_end, r);
    return FP_REJECT_NONE;
}

/* LLDPDU in f[off .. end): Chassis ID, Port ID and TTL first, in that order,
 * then any TLVs up to End of LLDPDU (or the end of the frame). */
static int parse_lldp(const uint8_t *f, size_t off, size_t end, fp_lldp *out) {
    fp_lldp got = {0}, *l = &got; /* copied to *out only when whole */
    unsigned seen = 0;
    while (off < end) {
        if (!have(off, 2, end)) return FP_REJECT_TRUNCATED;
        uint16_t head = be16(f + off);
        unsigned type = head >> 9;
        size_t len = head & 0x1ff;
        off += 2;
        if (!have(off, len, end)) return FP_REJECT_TRUNCATED;
        if (seen < 3 && type != seen + 1) return FP_REJECT_MALFORMED;
        if (type == 0) {
            if (len != 0) return FP_REJECT_BAD_LENGTH;
            break;
        }
        if (seen == 0 || seen == 1) { /* Chassis ID, Port ID: subtype + 1..255 bytes */
            if (len < 2 || len > 256) return FP_REJECT_BAD_LENGTH;
            uint16_t id_off = (uint16_t)(off + 1), id_len = (uint16_t)(len - 1);
            if (seen == 0) {
                l->chassis_subtype = f[off];
                l->chassis_off = id_off;
                l->chassis_len = id_len;
            } else {
                l->port_subtype = f[off];
                l->port_off = id_off;
                l->port_len = id_len;
            }
            seen++;
        } else if (seen == 2) {       /* Time To Live */
            if (len != 2) return FP_REJECT_BAD_LENGTH;
            l->ttl = be16(f + off);
            seen++;
        }
        off += len;
    }
    if (seen != 3) return FP_REJECT_MALFORMED;
    *out = got;
    return FP_REJECT_NONE;
}

static void parse_frame(const uint8_t *f, size_t len, fp_record *r) {
    int rc;
    if (len > FP_FRAME_MAX) {
        r->reject = FP_REJECT_BAD_LENGTH;
        return;
    }
    if (len < ETH_HLEN) {
        r->reject = FP_REJECT_TRUNCATED;
        return;
    }
    r->eth_dst = be48(f);
    r->eth_src = be48(f + 6);
    r->ether_type = be16(f + 12);
    r->layers |= FP_L_ETH;
    size_t off = ETH_HLEN;
    if (r->ether_type == ETHERTYPE_VLAN) {
        if (!have(off, 4, len)) {
            r->reject = FP_REJECT_TRUNCATED;
            return;
        }
        r->vlan_tci = be16(f + off);
        r->ether_type = be16(f + off + 2);
        r->layers |= FP_L_VLAN;
        off += 4;
    }
    switch (r->ether_type) {
    case ETHERTYPE_ARP:
    case ETHERTYPE_RARP:
        r->kind = r->ether_type == ETHERTYPE_ARP ? FP_KIND_ARP : FP_KIND_RARP;
        rc = parse_arp(f, off, len, &r->arp);
        if (rc == FP_REJECT_NONE) r->layers |= FP_L_ARP;
        break;
    case ETHERTYPE_IPV4:
        rc = parse_ipv4_frame(f, off, len, r);
        break;
    case ETHERTYPE_LLDP:
        r->kind = FP_KIND_LLDP;
        rc = parse_lldp(f, off, len, &r->lldp);
        if (rc == FP_REJECT_NONE) r->layers |= FP_L_LLDP;
        break;
    default: /* including a second VLAN tag (0x8100 or 0x88a8 again) */
        rc = FP_REJECT_UNKNOWN;
        break;
    }
    r->reject = (uint8_t)rc;
}

void fp_parse_frame(const uint8_t *f, size_t len, fp_record *r) {
    memset(r, 0, sizeof *r);
    r->frame_len = (uint32_t)len;
    parse_frame(f, len, r);
}

int fp_parse_batch(const uint8_t *buf, size_t buf_len, const uint32_t *lens, size_t n,
                   const fp_meta_cols *meta, fp_record *out) {
    if (n == 0) return FP_OK;
    if (buf == NULL || lens == NULL || out == NULL) return FP_E_NULL;
    if (meta != NULL && (meta->in_port == NULL || meta->reason == NULL || meta->vnet_id == NULL))
        return FP_E_NULL;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] > buf_len - total) return FP_E_BOUNDS; /* total <= buf_len holds */
        total += lens[i];
    }
    if (meta != NULL) {
        for (size_t i = 0; i < n; i++) {
            if (meta->in_port[i] > 511 || meta->vnet_id[i] > 4095
                || (meta->present != NULL && meta->present[i] > 1))
                return FP_E_META;
        }
    }
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        fp_record *r = &out[i];
        fp_parse_frame(buf + start, lens[i], r);
        if (meta != NULL && (meta->present == NULL || meta->present[i])) {
            r->meta.in_port = meta->in_port[i];
            r->meta.vnet_id = meta->vnet_id[i];
            r->meta.reason = meta->reason[i];
            r->meta.present = 1;
            r->layers |= FP_L_META;
        }
        start += lens[i];
    }
    return FP_OK;
}

int fp_column(const fp_record *recs, size_t n, size_t offset, size_t width, uint8_t *out) {
    if (n == 0) return FP_OK;
    if (recs == NULL || out == NULL) return FP_E_NULL;
    if ((width != 1 && width != 2 && width != 4 && width != 8) || offset > sizeof(fp_record)
        || width > sizeof(fp_record) - offset)
        return FP_E_RANGE;
    const uint8_t *base = (const uint8_t *)recs + offset;
    for (size_t i = 0; i < n; i++) memcpy(out + i * width, base + i * sizeof(fp_record), width);
    return FP_OK;
}

int fp_rows(const fp_record *recs, size_t n, const uint32_t *idx, size_t n_idx,
            const uint32_t *offsets, const uint8_t *widths, size_t n_fields, uint64_t *out) {
    if (n_idx == 0 || n_fields == 0) return FP_OK;
    if (recs == NULL || idx == NULL || offsets == NULL || widths == NULL || out == NULL)
        return FP_E_NULL;
    for (size_t k = 0; k < n_fields; k++) {
        size_t w = widths[k];
        if ((w != 1 && w != 2 && w != 4 && w != 8) || offsets[k] > sizeof(fp_record)
            || w > sizeof(fp_record) - offsets[k])
            return FP_E_RANGE;
    }
    for (size_t j = 0; j < n_idx; j++)
        if (idx[j] >= n) return FP_E_RANGE;
    for (size_t j = 0; j < n_idx; j++) {
        const uint8_t *rec = (const uint8_t *)&recs[idx[j]];
        for (size_t k = 0; k < n_fields; k++) {
            const uint8_t *p = rec + offsets[k];
            uint64_t v;
            switch (widths[k]) {
            case 1: v = *p; break;
            case 2: { uint16_t x; memcpy(&x, p, 2); v = x; break; }
            case 4: { uint32_t x; memcpy(&x, p, 4); v = x; break; }
            default: memcpy(&v, p, 8); break;
            }
            out[j * n_fields + k] = v;
        }
    }
    return FP_OK;
}
