/* Packet-ins off the stream, and the quiet filter; see fp_punt.h for the contract.
 *
 * The protobuf reader takes only what it can read exactly as protobuf (upb) does, and
 * says FP_MSG_OTHER for the rest: protobuf decides those. Every read is bounded by the
 * end of the enclosing message.
 */
#include "fp_punt.h"

#include <string.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };
enum { REASON_BRIDGING = 5, PORTS = 512, ZERO_MACS = 64, CLAIMS = 64 };

/* A varint of at most `max` bytes at p[*pos .. end); 0 when there is none. */
static int varint(const uint8_t *p, size_t *pos, size_t end, unsigned max, uint64_t *v) {
    uint64_t out = 0;
    for (unsigned i = 0; i < max && *pos < end; i++) {
        uint8_t b = p[(*pos)++];
        out |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = out;
            return 1;
        }
    }
    return 0;
}

/* A tag as upb reads it: at most 5 bytes, 32 bits. */
static int tag(const uint8_t *p, size_t *pos, size_t end, uint32_t *field, unsigned *wt) {
    uint64_t v;
    if (!varint(p, pos, end, 5, &v) || v > 0xffffffffu) return 0;
    *wt = (unsigned)(v & 7);
    *field = (uint32_t)(v >> 3);
    return *field != 0;
}

/* Skips one field of wire type wt (not a group). */
static int skip(const uint8_t *p, size_t *pos, size_t end, unsigned wt) {
    uint64_t v;
    switch (wt) {
    case WT_VARINT:
        return varint(p, pos, end, 10, &v);
    case WT_I64:
        if (end - *pos < 8) return 0;
        *pos += 8;
        return 1;
    case WT_I32:
        if (end - *pos < 4) return 0;
        *pos += 4;
        return 1;
    case WT_LEN:
        if (!varint(p, pos, end, 10, &v) || v > end - *pos) return 0;
        *pos += (size_t)v;
        return 1;
    default:
        return 0;
    }
}

/* A length-delimited field's body: [*body, *body + *len). */
static int body(const uint8_t *p, size_t *pos, size_t end, size_t *at, size_t *len) {
    uint64_t v;
    if (!varint(p, pos, end, 10, &v) || v > end - *pos) return 0;
    *at = *pos;
    *len = (size_t)v;
    *pos += (size_t)v;
    return 1;
}

/* One PacketMetadata in p[pos .. end) into the record; FP_MSG_* */
static int metadata(const uint8_t *p, size_t pos, size_t end, const fp_meta_spec *spec,
                    fp_record *r) {
    uint32_t id = 0, field;
    unsigned wt;
    size_t vat = 0, vlen = 0;
    uint64_t v;
    while (pos < end) {
        if (!tag(p, &pos, end, &field, &wt)) return FP_MSG_OTHER;
        if (field == 1) {
            if (wt != WT_VARINT || !varint(p, &pos, end, 10, &v)) return FP_MSG_OTHER;
            id = (uint32_t)v;   /* uint32: protobuf keeps the low 32 bits */
        } else if (field == 2) {
            if (wt != WT_LEN || !body(p, &pos, end, &vat, &vlen)) return FP_MSG_OTHER;
        } else if (!skip(p, &pos, end, wt)) {
            return FP_MSG_OTHER;
        }
    }
    unsigned k = 0;
    while (k < spec->n && spec->id[k] != id) k++;
    if (k == spec->n || vlen == 0) return FP_MSG_BAD_META;
    while (vlen > 0 && p[vat] == 0) {   /* leading zeros: a padded value */
        vat++;
        vlen--;
    }
    if (vlen > 8) return FP_MSG_BAD_META;
    uint64_t value = 0;
    for (size_t i = 0; i < vlen; i++) value = value << 8 | p[vat + i];
    unsigned width = spec->bitwidth[k];
    if (width < 64 && value >> width) return FP_MSG_BAD_META;
    switch (spec->slot[k]) {
    case FP_SLOT_IN_PORT:
        if (value >= PORTS) return FP_MSG_BAD_META;
        r->meta.in_port = (uint16_t)value;
        break;
    case FP_SLOT_REASON:
        if (value > 0xff) return FP_MSG_BAD_META;
        r->meta.reason = (uint8_t)value;
        break;
    case FP_SLOT_VNET:
        if (value > 4095) return FP_MSG_BAD_META;
        r->meta.vnet_id = (uint16_t)value;
        break;
    default:
        break;
    }
    return FP_MSG_PACKET;
}

/* One StreamMessageResponse in buf[pos .. end). */
static int message(const uint8_t *buf, size_t pos, size_t end, const fp_meta_spec *spec,
                   fp_record *r, uint32_t *start) {
    uint32_t field;
    unsigned wt;
    size_t at = 0, len = 0;
    int packets = 0;
    while (pos < end) {
        if (!tag(buf, &pos, end, &field, &wt)) return FP_MSG_OTHER;
        if (field >= 1 && field <= 6) {   /* the oneof: only one packet, nothing else */
            if (field != 2 || wt != WT_LEN || packets++ || !body(buf, &pos, end, &at, &len))
                return FP_MSG_OTHER;
        } else if (!skip(buf, &pos, end, wt)) {
            return FP_MSG_OTHER;
        }
    }
    if (!packets) return FP_MSG_OTHER;
    /* PacketIn: payload (last one wins), metadata (each checked, the last value of a
     * field wins as in a dict). Metadata is checked after the payload is known. */
    size_t pay = 0, pay_len = 0, q = at, stop = at + len;
    while (q < stop) {
        if (!tag(buf, &q, stop, &field, &wt)) return FP_MSG_OTHER;
        if (field == 1) {
            if (wt != WT_LEN || !body(buf, &q, stop, &pay, &pay_len)) return FP_MSG_OTHER;
        } else if (field == 2) {
            size_t m, mlen;
            if (wt != WT_LEN || !body(buf, &q, stop, &m, &mlen)) return FP_MSG_OTHER;
        } else if (!skip(buf, &q, stop, wt)) {
            return FP_MSG_OTHER;
        }
    }
    fp_parse_frame(buf + pay, pay_len, r);
    *start = (uint32_t)pay;
    r->meta.present = 1;
    r->layers |= FP_L_META;
    q = at;
    int bad = 0;
    while (q < stop) {   /* read once already: every step succeeds */
        size_t m = 0, mlen = 0;
        tag(buf, &q, stop, &field, &wt);
        if (field == 2) {
            body(buf, &q, stop, &m, &mlen);
            int rc = metadata(buf, m, m + mlen, spec, r);
            if (rc == FP_MSG_OTHER) return rc;
            bad |= rc == FP_MSG_BAD_META;
        } else {
            skip(buf, &q, stop, wt);
        }
    }
    return bad ? FP_MSG_BAD_META : FP_MSG_PACKET;
}

int fp_packet_ins(const uint8_t *buf, size_t buf_len, const uint32_t *lens, size_t n,
                  const fp_meta_spec *spec, fp_record *out, uint32_t *starts,
                  uint8_t *status) {
    if (n == 0) return FP_OK;
    if (buf == NULL || lens == NULL || spec == NULL || out == NULL || starts == NULL
        || status == NULL)
        return FP_E_NULL;
    if (spec->n > 16 || buf_len > 0xffffffffu) return FP_E_RANGE;
    for (unsigned k = 0; k < spec->n; k++)
        if (spec->bitwidth[k] < 1 || spec->bitwidth[k] > 64) return FP_E_RANGE;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] > buf_len - total) return FP_E_BOUNDS;
        total += lens[i];
    }
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        starts[i] = (uint32_t)pos;
        status[i] = (uint8_t)message(buf, pos, pos + lens[i], spec, &out[i], &starts[i]);
        if (status[i] != FP_MSG_PACKET) memset(&out[i], 0, sizeof out[i]);
        pos += lens[i];
    }
    return FP_OK;
}

/* -- the quiet filter --------------------------------------------------------------- */

static inline uint32_t slot_of(uint64_t key, uint32_t capacity) {
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & (capacity - 1);
}

static fp_quiet_entry *find(const fp_quiet_table *t, uint64_t key) {
    uint32_t mask = t->capacity - 1;
    for (uint32_t i = slot_of(key, t->capacity), probes = 0; probes < t->capacity;
         i = (i + 1) & mask, probes++) {
        if (t->slots[i].key == key) return &t->slots[i];
        if (t->slots[i].key == 0) return NULL;
    }
    return NULL;
}

static int table_ok(const fp_quiet_table *t) {
    return t != NULL && t->slots != NULL && t->capacity >= 2
           && (t->capacity & (t->capacity - 1)) == 0;
}

/* Same neighbour (chassis and port id) as the LLDP frame of record `b`. */
static int same_lldp(const fp_record *a, uint32_t sa, const fp_record *b, uint32_t sb,
                     const uint8_t *buf) {
    const fp_lldp *x = &a->lldp, *y = &b->lldp;
    return x->chassis_subtype == y->chassis_subtype && x->port_subtype == y->port_subtype
           && x->chassis_len == y->chassis_len && x->port_len == y->port_len
           && memcmp(buf + sa + x->chassis_off, buf + sb + y->chassis_off, x->chassis_len) == 0
           && memcmp(buf + sa + x->port_off, buf + sb + y->port_off, x->port_len) == 0;
}

static void put_mac(uint8_t *p, uint64_t mac) {
    for (int k = 0; k < 6; k++) p[k] = (uint8_t)(mac >> (40 - 8 * k));
}

static void put_ip(uint8_t *p, uint32_t ip) {
    for (int k = 0; k < 4; k++) p[k] = (uint8_t)(ip >> (24 - 8 * k));
}

/* The request `a` of a quiet host answered into ans, if its address's owner is settled
 * and nothing in this call so far says otherwise; 1 when answered. */
static int answer(const fp_quiet_table *t, fp_quiet_answers *ans, uint16_t vnet,
                  const fp_arp *a, uint32_t switch_index, unsigned port, uint32_t stamp,
                  const uint32_t *claims, unsigned n_claims) {
    if (a->tpa == 0 || switch_index >= ans->n_sites) return 0;
    for (unsigned c = 0; c < n_claims; c++)
        if (claims[c] == a->tpa) return 0;
    const fp_quiet_entry *addr = find(t, FP_QUIET_ADDR | (uint64_t)vnet << 32 | a->tpa);
    if (addr == NULL || addr->epoch != t->epoch) return 0;
    const fp_quiet_entry *owner = find(t, addr->owner);
    if (owner == NULL || owner->epoch != t->epoch || owner->stamp == stamp
        || owner->ip != a->tpa || (owner->where >> 16) >= ans->n_sites
        || ans->sites[owner->where >> 16] != ans->sites[switch_index])
        return 0;
    uint64_t mac = owner->key & 0xffffffffffffull;
    if (mac == a->sha) return 0;   /* its own address (an RFC 5227 probe): no answer */
    uint8_t *f = ans->frames + (size_t)ans->n * FP_ARP_REPLY_LEN;
    memset(f, 0, FP_ARP_REPLY_LEN);
    put_mac(f, a->sha);                /* Ethernet: to the asker, from the owner, ARP */
    put_mac(f + 6, mac);
    f[12] = 0x08, f[13] = 0x06;
    f[15] = 1, f[16] = 0x08, f[18] = 6, f[19] = 4, f[21] = 2;   /* IPv4 over Ethernet, reply */
    put_mac(f + 22, mac);
    put_ip(f + 28, a->tpa);
    put_mac(f + 32, a->sha);
    put_ip(f + 38, a->spa);
    ans->ports[ans->n++] = port;
    return 1;
}

int fp_quiet_filter(fp_quiet_table *t, const fp_record *recs, size_t n,
                    const uint8_t *buf, size_t buf_len, const uint32_t *starts,
                    uint32_t switch_index, uint32_t *out_idx, uint64_t *counts,
                    fp_quiet_answers *ans) {
    if (n == 0) return 0;
    if (!table_ok(t) || recs == NULL || buf == NULL || starts == NULL || out_idx == NULL
        || counts == NULL)
        return FP_E_NULL;
    if (ans != NULL && (ans->sites == NULL || ans->frames == NULL || ans->ports == NULL))
        return FP_E_NULL;
    /* ans->n must start at 0: the room is one reply per frame of this call */
    if (switch_index > 0xffff || n > 0x7fffffff || (ans != NULL && ans->n != 0))
        return FP_E_RANGE;
    for (size_t i = 0; i < n; i++)
        if (starts[i] > buf_len || recs[i].frame_len > buf_len - starts[i]) return FP_E_BOUNDS;
    int32_t last_lldp[PORTS];   /* per ingress port, the last LLDP frame that came through */
    for (unsigned p = 0; p < PORTS; p++) last_lldp[p] = -1;
    uint32_t stamp = ++t->stamp;
    if (stamp == 0) stamp = t->stamp = 1;
    /* MACs of host frames from ports in no virtual network, come through so far: the
     * controller may place them in any network, so no later frame of theirs is quiet. */
    uint64_t zero_macs[ZERO_MACS];
    unsigned zeros = 0;
    /* Senders' addresses of the ARP frames come through so far (a claim the controller
     * may act on), and whether anything else that may claim one came through. */
    uint32_t claims[CLAIMS];
    unsigned n_claims = 0;
    int claimed_any = 0;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        const fp_record *r = &recs[i];
        if (r->reject != FP_REJECT_NONE || !(r->layers & FP_L_META)) {
            counts[FP_Q_MALFORMED]++;
            continue;
        }
        unsigned port = r->meta.in_port;
        if (r->meta.reason == REASON_BRIDGING && (r->layers & FP_L_ETH)) {
            out_idx[kept++] = (uint32_t)i;
            continue;
        }
        if (r->kind == FP_KIND_LLDP && (r->layers & FP_L_LLDP)) {
            int32_t prev = port < PORTS ? last_lldp[port] : -1;
            if (prev >= 0 && same_lldp(r, starts[i], &recs[prev], starts[prev], buf)) {
                counts[FP_Q_REPEATED]++;
                continue;
            }
            if (port < PORTS) last_lldp[port] = (int32_t)i;
            out_idx[kept++] = (uint32_t)i;
            continue;
        }
        if (r->kind == FP_KIND_DHCP && (r->layers & FP_L_DHCP)) {
            /* a host seen: its later frames in this call come through too */
            if (r->meta.vnet_id == 0) {
                if (zeros < ZERO_MACS) zero_macs[zeros] = r->dhcp.chaddr;
                zeros++;
            } else {
                fp_quiet_entry *e = find(t, (uint64_t)r->meta.vnet_id << 48 | r->dhcp.chaddr);
                if (e != NULL) e->stamp = stamp;
            }
            claimed_any = 1;
            out_idx[kept++] = (uint32_t)i;
            continue;
        }
        if (r->kind != FP_KIND_ARP && r->kind != FP_KIND_RARP) {
            counts[FP_Q_IGNORED]++;
            continue;
        }
        const fp_arp *a = &r->arp;
        if (!(r->layers & FP_L_ARP) || !(r->layers & FP_L_ETH) || a->oper < 1 || a->oper > 4
            || a->sha != r->eth_src) {
            counts[FP_Q_IGNORED]++;
            continue;
        }
        uint16_t vnet = r->meta.vnet_id;
        if (vnet == 0) {   /* the controller finds its network by MAC */
            if (zeros < ZERO_MACS) zero_macs[zeros] = a->sha;
            zeros++;
            claimed_any = 1;
            out_idx[kept++] = (uint32_t)i;
            continue;
        }
        int rarp = r->kind == FP_KIND_RARP;
        int garp = !rarp && a->spa == a->tpa && a->spa != 0;
        uint32_t ip = (rarp || a->spa == 0) ? 0 : a->spa;
        int asks = !rarp && !garp && a->oper == 1;
        uint64_t key = (uint64_t)vnet << 48 | a->sha;
        fp_quiet_entry *e = find(t, key);
        int quiet = e != NULL && e->epoch == t->epoch && e->stamp != stamp
                    && e->where == (switch_index << 16 | port) && (ip == 0 || ip == e->ip);
        for (unsigned z = 0; quiet && z < zeros; z++)
            quiet = z < ZERO_MACS && zero_macs[z] != a->sha;
        if (quiet && !asks) {
            counts[FP_Q_QUIET]++;
            continue;
        }
        if (quiet && ans != NULL && !claimed_any
            && answer(t, ans, vnet, a, switch_index, port, stamp, claims, n_claims)) {
            counts[FP_Q_ANSWERED]++;
            continue;
        }
        if (!quiet && e != NULL) e->stamp = stamp;   /* its later frames come through too */
        if (a->spa != 0) {
            if (n_claims < CLAIMS) claims[n_claims++] = a->spa;
            else claimed_any = 1;
        }
        out_idx[kept++] = (uint32_t)i;
    }
    return (int)kept;
}

static fp_quiet_entry *claim(fp_quiet_table *t, uint64_t key) {
    uint32_t mask = t->capacity - 1;
    for (uint32_t i = slot_of(key, t->capacity);; i = (i + 1) & mask) {
        if (t->slots[i].key == key) return &t->slots[i];
        if (t->slots[i].key == 0) {
            t->slots[i].key = key;
            t->used++;
            return &t->slots[i];
        }
    }
}

int fp_quiet_set(fp_quiet_table *t, uint64_t key, uint32_t where, uint32_t ip) {
    if (!table_ok(t)) return FP_E_NULL;
    if (key == 0 || key >= FP_QUIET_ADDR) return FP_E_RANGE;
    fp_quiet_entry *e = find(t, key);
    if (e == NULL) {
        if ((uint64_t)(t->used + 1) * 4 > (uint64_t)t->capacity * 3) return FP_E_CAPACITY;
        e = claim(t, key);
        e->stamp = 0;
    }
    e->owner = 0;
    e->where = where;
    e->ip = ip;
    e->epoch = t->epoch;
    return FP_OK;
}

int fp_quiet_own(fp_quiet_table *t, uint16_t vnet, uint32_t ip, uint64_t owner) {
    if (!table_ok(t)) return FP_E_NULL;
    if (ip == 0 || owner == 0 || owner >= FP_QUIET_ADDR) return FP_E_RANGE;
    uint64_t key = FP_QUIET_ADDR | (uint64_t)vnet << 32 | ip;
    fp_quiet_entry *e = find(t, key);
    if (e == NULL) {
        if ((uint64_t)(t->used + 1) * 4 > (uint64_t)t->capacity * 3) return FP_E_CAPACITY;
        e = claim(t, key);
        e->stamp = 0;
    }
    e->owner = owner;
    e->where = 0;
    e->ip = ip;
    e->epoch = t->epoch;
    return FP_OK;
}

int fp_quiet_forget(fp_quiet_table *t, uint64_t key) {
    if (!table_ok(t)) return FP_E_NULL;
    fp_quiet_entry *e = find(t, key);
    if (e != NULL) e->epoch = 0;
    return FP_OK;
}

int fp_quiet_rehash(const fp_quiet_table *from, fp_quiet_table *to) {
    if (!table_ok(from) || !table_ok(to)) return FP_E_NULL;
    if ((uint64_t)from->used * 4 > (uint64_t)to->capacity * 3) return FP_E_CAPACITY;
    memset(to->slots, 0, sizeof(fp_quiet_entry) * to->capacity);
    to->used = 0;
    to->epoch = from->epoch;
    to->stamp = from->stamp;
    for (uint32_t i = 0; i < from->capacity; i++) {
        const fp_quiet_entry *e = &from->slots[i];
        if (e->key == 0 || e->epoch != from->epoch) continue;   /* unsettled: dropped */
        *claim(to, e->key) = *e;
    }
    return FP_OK;
}
