/* See fastpath.h. Every read goes through need(), which checks the bounds. */
#include "fastpath.h"

#include <string.h>

static inline int need(size_t off, size_t want, size_t len) {
    return off <= len && want <= len - off;
}

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

static inline uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* ARP/RARP body at f[off]; 0 ok, else a reject code. */
static int parse_arp(const uint8_t *f, size_t off, size_t len, fp_record *r) {
    if (!need(off, 28, len)) return FP_TRUNCATED;
    const uint8_t *a = f + off;
    if (be16(a) != 1 || be16(a + 2) != 0x0800 || a[4] != 6 || a[5] != 4) return FP_UNKNOWN;
    r->arp_oper = be16(a + 6);
    memcpy(r->arp_sha, a + 8, 6);
    r->arp_spa = be32(a + 14);
    memcpy(r->arp_tha, a + 18, 6);
    r->arp_tpa = be32(a + 24);
    return FP_OK;
}

/* IPv4 header at f[off]: addresses and protocol; *hlen gets its length. */
static int parse_ipv4(const uint8_t *f, size_t off, size_t len, uint32_t *src, uint32_t *dst,
                      uint8_t *proto, size_t *hlen) {
    if (!need(off, 20, len)) return FP_TRUNCATED;
    const uint8_t *ip = f + off;
    size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
    if ((ip[0] >> 4) != 4 || ihl < 20) return FP_BAD_LENGTH;
    if (!need(off, ihl, len)) return FP_TRUNCATED;
    size_t total = be16(ip + 2);
    if (total < ihl) return FP_BAD_LENGTH;
    if (total > len - off) return FP_TRUNCATED;
    *src = be32(ip + 12);
    *dst = be32(ip + 16);
    *proto = ip[9];
    *hlen = ihl;
    return FP_OK;
}

static int parse_gre(const uint8_t *f, size_t off, size_t len, fp_record *r) {
    if (!need(off, 4, len)) return FP_TRUNCATED;
    uint16_t flags = be16(f + off), proto = be16(f + off + 2);
    r->gre_flags = flags;
    r->kind = FP_GRE;
    if ((flags & 0x4000) || (flags & 0x0007)) return FP_UNKNOWN; /* routing, or not v0 */
    size_t pos = off + 4;
    if (flags & 0x8000) pos += 4;                                /* checksum + reserved */
    if (flags & 0x2000) {                                        /* key */
        if (!need(pos, 4, len)) return FP_TRUNCATED;
        r->gre_key = be32(f + pos);
        pos += 4;
    }
    if (flags & 0x1000) pos += 4;                                /* sequence number */
    if (proto != 0x6558) return FP_OK;                           /* not Ethernet inside */
    if (!need(pos, 14, len)) return FP_TRUNCATED;
    memcpy(r->inner_dst, f + pos, 6);
    memcpy(r->inner_src, f + pos + 6, 6);
    r->inner_ether_type = be16(f + pos + 12);
    pos += 14;
    if (r->inner_ether_type == 0x0800) {
        size_t hlen;
        return parse_ipv4(f, pos, len, &r->inner_ip_src, &r->inner_ip_dst, &r->inner_ip_proto,
                          &hlen);
    }
    if (r->inner_ether_type == 0x0806 || r->inner_ether_type == 0x8035)
        return parse_arp(f, pos, len, r);
    return FP_OK;
}

static int parse_lldp(const uint8_t *f, size_t off, size_t len, fp_record *r) {
    int have = 0; /* bit 0 chassis, 1 port, 2 ttl */
    while (need(off, 2, len)) {
        uint16_t head = be16(f + off);
        size_t type = head >> 9, tlen = head & 0x1ff;
        off += 2;
        if (!need(off, tlen, len)) return FP_TRUNCATED;
        const uint8_t *v = f + off;
        off += tlen;
        if (type == 0) break;
        if ((type == 1 || type == 2) && tlen >= 1) {
            size_t n = tlen - 1 > FP_LLDP_ID_MAX ? FP_LLDP_ID_MAX : tlen - 1;
            if (type == 1) { memcpy(r->chassis, v + 1, n); r->chassis_len = (uint8_t)n; have |= 1; }
            else { memcpy(r->port_id, v + 1, n); r->port_len = (uint8_t)n; have |= 2; }
        } else if (type == 3) {
            if (tlen != 2) return FP_BAD_LENGTH;
            r->lldp_ttl = be16(v);
            have |= 4;
        }
    }
    return have == 7 ? FP_OK : FP_BAD_LENGTH;
}

static void parse_one(const uint8_t *f, size_t len, fp_record *r) {
    memset(r, 0, sizeof *r);
    if (len < 14) { r->reject = FP_TRUNCATED; return; }
    memcpy(r->eth_dst, f, 6);
    memcpy(r->eth_src, f + 6, 6);
    uint16_t et = be16(f + 12);
    size_t off = 14;
    if (et == 0x8100) {
        if (!need(off, 4, len)) { r->ether_type = et; r->reject = FP_TRUNCATED; return; }
        r->has_vlan = 1;
        r->vlan_id = be16(f + off) & 0x0fff;
        et = be16(f + off + 2);
        off += 4;
    }
    r->ether_type = et;
    switch (et) {
    case 0x0806:
    case 0x8035:
        r->kind = et == 0x0806 ? FP_ARP : FP_RARP;
        r->reject = (uint8_t)parse_arp(f, off, len, r);
        return;
    case 0x0800: {
        size_t hlen;
        r->kind = FP_IPV4;
        int rc = parse_ipv4(f, off, len, &r->ip_src, &r->ip_dst, &r->ip_proto, &hlen);
        if (rc == FP_OK && r->ip_proto == 47 && (be16(f + off + 6) & 0x1fff) == 0)
            rc = parse_gre(f, off + hlen, len, r);
        r->reject = (uint8_t)rc;
        return;
    }
    case 0x88cc:
        r->kind = FP_LLDP;
        r->reject = (uint8_t)parse_lldp(f, off, len, r);
        return;
    default:
        r->reject = FP_UNKNOWN;
    }
}

size_t fp_parse_batch(const uint8_t *data, size_t data_len, const uint32_t *offsets,
                      const uint32_t *lengths, size_t n, fp_record *out) {
    if (data == NULL || offsets == NULL || lengths == NULL || out == NULL) return 0;
    for (size_t i = 0; i < n; i++) {
        if (!need(offsets[i], lengths[i], data_len)) return 0;
    }
    for (size_t i = 0; i < n; i++) parse_one(data + offsets[i], lengths[i], &out[i]);
    return n;
}

void fp_set_meta(fp_record *out, size_t n, const uint16_t *in_port, const uint8_t *reason,
                 const uint16_t *vnet_id) {
    for (size_t i = 0; i < n; i++) {
        out[i].has_meta = 1;
        out[i].in_port = in_port[i];
        out[i].reason = reason[i];
        out[i].vnet_id = vnet_id[i];
    }
}
