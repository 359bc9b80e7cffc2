/* libFuzzer harness of the quiet filter with proxy ARP answers (fp_quiet_filter,
 * ext/fp_punt.c) and of fp_rows (ext/fp_parse.c), built by run.sh with
 * AddressSanitizer and UndefinedBehaviorSanitizer.
 *
 * The input's first bytes make a small table: a few hosts settled (4 networks x 4
 * MACs, at switch 0..7 port 0..7, with one of 4 addresses or none), addresses owned,
 * hosts forgotten, epochs bumped, the table rehashed; the sites of switches 0..3 and
 * the switch the batch comes from. The rest is a batch of frames, each with its packet-in metadata
 * (port, network, reason, or none): raw bytes (a length byte; 255: 255 + the
 * next byte), or an ARP/RARP frame made from 3-4
 * bytes (its MACs and addresses from the same small sets, so that lookups hit),
 * possibly cut short. The frames sit end to end in a buffer of exactly their size.
 *
 * Each batch is filtered once or twice, each time twice: with answers, and with
 * `ans` NULL on a copy of the table. Checked: the kept indices rise; every frame is
 * counted once; the frames kept without answers are those kept with answers plus
 * the answered ones; each answered frame is an ARP request of a host the harness's
 * own model calls settled where it is, for an address owned by a settled host of the
 * same site, and its reply is that host's 60-byte ARP reply to the asker, on its
 * port. Then fp_rows on the kept rows equals reading the records directly, and bad
 * arguments of both calls are refused without writing anything.
 */
#include "fp_parse.h"
#include "fp_punt.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)
#define MAX_FRAMES 24
#define CAPACITY 64     /* at most 32 keys: 16 hosts and 16 addresses */
#define N_SITES 4
#define MAC0 0x020000000001ull
#define IP0 0x0A000001u

static const uint32_t IPS[8] = {0, IP0, IP0 + 1, IP0 + 2, IP0 + 3, 0x0A0000C8u, 0x0A000101u,
                                0xC0A80001u};

typedef struct model_host {   /* (vnet, mac index) */
    uint32_t where, ip, epoch;
} model_host;

typedef struct model_addr {   /* (vnet, ip index 1..4) */
    uint64_t owner;
    uint32_t epoch;
} model_addr;

typedef struct model {
    model_host host[4][4];
    model_addr addr[4][4];
    uint32_t epoch;
} model;

static uint64_t key_of(unsigned vnet, unsigned mac) {
    return (uint64_t)vnet << 48 | (MAC0 + mac);
}

static void put(uint8_t *p, uint64_t v, int bytes) {
    for (int k = 0; k < bytes; k++) p[k] = (uint8_t)(v >> (8 * (bytes - 1 - k)));
}

/* The table ops: 3 bytes each, on *t, whose slots are one of spare[0], spare[1] (a
 * rehash moves them to the other). Returns bytes read. */
static size_t apply_ops(const uint8_t *d, size_t size, size_t pos, unsigned n_ops,
                        fp_quiet_table *t, fp_quiet_entry (*spare)[CAPACITY], model *m) {
    for (unsigned i = 0; i < n_ops && size - pos >= 3; i++, pos += 3) {
        unsigned op = d[pos] & 3, vnet = (d[pos] >> 2) & 3, mac = (d[pos] >> 4) & 3;
        uint32_t where = (uint32_t)(d[pos + 1] & 7) << 16 | ((d[pos + 1] >> 3) & 7);
        uint32_t ip = IPS[(d[pos + 1] >> 6) | (d[pos + 2] >> 7) << 2];   /* 0: none */
        switch (op) {
        case 0:   /* settle (vnet 0 is a network too, for the table) */
            CHECK(fp_quiet_set(t, key_of(vnet, mac), where, ip) == FP_OK);
            m->host[vnet][mac] = (model_host){where, ip, m->epoch};
            break;
        case 1: { /* own: address d[pos+2] & 3 of vnet, owned by (owner vnet, mac) */
            unsigned a = d[pos + 2] & 3, ovnet = (d[pos + 2] >> 2) & 3;
            uint64_t owner = key_of(ovnet, mac);
            CHECK(fp_quiet_own(t, (uint16_t)vnet, IPS[1 + a], owner) == FP_OK);
            m->addr[vnet][a] = (model_addr){owner, m->epoch};
            break;
        }
        case 2:   /* forget a host */
            CHECK(fp_quiet_forget(t, key_of(vnet, mac)) == FP_OK);
            m->host[vnet][mac].epoch = 0;
            break;
        default:
            if (vnet & 1) {   /* moved to the other slots, as QuietFilter._grow does */
                fp_quiet_entry *to = t->slots == spare[0] ? spare[1] : spare[0];
                fp_quiet_table moved = {to, CAPACITY, 0, 0, 0};
                CHECK(fp_quiet_rehash(t, &moved) == FP_OK);
                CHECK(moved.epoch == t->epoch && moved.stamp == t->stamp
                      && moved.used <= t->used);
                *t = moved;
            } else {          /* forget everyone: a new epoch */
                t->epoch++;
                m->epoch++;
            }
            break;
        }
    }
    return pos;
}

/* One ARP / RARP frame from 3 (4 when cut) bytes at d[pos]; its length, or 0 when the
 * input ends first. */
static size_t compact_frame(const uint8_t *d, size_t size, size_t *pos, uint8_t *f) {
    if (size - *pos < 2) return 0;
    uint8_t b1 = d[*pos], b2 = d[*pos + 1];
    *pos += 2;
    unsigned oper = b1 & 7, rarp = (b1 >> 3) & 1, garp = (b1 >> 4) & 1, other_src = (b1 >> 5) & 1;
    uint64_t sha = MAC0 + (b1 >> 6);
    uint32_t spa = IPS[b2 & 7], tpa = garp ? spa : IPS[(b2 >> 3) & 7];
    size_t len = 60;
    if (b2 & 0x40) {   /* cut short */
        if (*pos >= size) return 0;
        len = d[(*pos)++] % 61;
    }
    memset(f, 0, 60);
    put(f, 0xffffffffffffull, 6);
    put(f + 6, other_src ? sha ^ 0x100 : sha, 6);
    put(f + 12, rarp ? 0x8035 : 0x0806, 2);
    put(f + 14, 0x00010800, 4);
    put(f + 18, 0x0604, 2);
    put(f + 20, oper, 2);
    put(f + 22, sha, 6);
    put(f + 28, spa, 4);
    put(f + 38, tpa, 4);
    return len;
}

static int settled_at(const model *m, unsigned vnet, uint64_t mac, uint32_t where, uint32_t ip) {
    if (vnet > 3 || mac < MAC0 || mac - MAC0 > 3) return 0;
    const model_host *h = &m->host[vnet][mac - MAC0];
    return h->epoch == m->epoch && h->where == where && (ip == 0 || ip == h->ip);
}

/* Answered request i (record r): the model must agree, and the reply must be right. */
static void check_answer(const model *m, const fp_record *r, uint32_t switch_index,
                         const uint16_t *sites, const uint8_t *reply, uint32_t port) {
    CHECK(r->kind == FP_KIND_ARP && r->arp.oper == 1 && r->arp.tpa != 0
          && r->arp.spa != r->arp.tpa && r->arp.sha == r->eth_src);
    unsigned vnet = r->meta.vnet_id;
    CHECK(vnet != 0 && switch_index < N_SITES && port == r->meta.in_port);
    CHECK(settled_at(m, vnet, r->arp.sha, switch_index << 16 | port, r->arp.spa));
    unsigned a = 0;
    while (a < 4 && IPS[1 + a] != r->arp.tpa) a++;
    CHECK(a < 4 && m->addr[vnet][a].epoch == m->epoch);
    uint64_t owner = m->addr[vnet][a].owner;
    unsigned ovnet = (unsigned)(owner >> 48);
    uint64_t omac = owner & 0xffffffffffffull;
    CHECK(ovnet <= 3 && omac >= MAC0 && omac - MAC0 <= 3 && omac != r->arp.sha);
    const model_host *h = &m->host[ovnet][omac - MAC0];
    CHECK(h->epoch == m->epoch && h->ip == r->arp.tpa && (h->where >> 16) < N_SITES
          && sites[h->where >> 16] == sites[switch_index]);
    fp_record rep;
    fp_parse_frame(reply, FP_ARP_REPLY_LEN, &rep);
    CHECK(rep.reject == FP_REJECT_NONE && rep.kind == FP_KIND_ARP && rep.arp.oper == 2);
    CHECK(rep.eth_dst == r->arp.sha && rep.eth_src == omac && rep.arp.sha == omac
          && rep.arp.spa == r->arp.tpa && rep.arp.tha == r->arp.sha
          && rep.arp.tpa == r->arp.spa && rep.vlan_tci == 0);
    for (size_t k = 42; k < FP_ARP_REPLY_LEN; k++) CHECK(reply[k] == 0);
}

/* fp_rows on rows idx[0 .. k) against the records read directly; bad arguments refused. */
static void check_rows(const fp_record *recs, size_t n, const uint32_t *idx, size_t k) {
    static const uint32_t offsets[] = {
        offsetof(fp_record, kind), offsetof(fp_record, layers), offsetof(fp_record, frame_len),
        offsetof(fp_record, eth_src), offsetof(fp_record, meta.in_port),
        offsetof(fp_record, meta.vnet_id), offsetof(fp_record, arp.spa),
        offsetof(fp_record, arp.sha), offsetof(fp_record, dhcp.chaddr),
        sizeof(fp_record) - 8, sizeof(fp_record) - 1};
    static const uint8_t widths[] = {1, 2, 4, 8, 2, 2, 4, 8, 8, 8, 1};
    enum { F = sizeof widths };
    uint64_t out[MAX_FRAMES * F];
    CHECK(fp_rows(recs, n, idx, k, offsets, widths, F, out) == FP_OK);
    for (size_t j = 0; j < k; j++)
        for (size_t f = 0; f < F; f++) {
            uint64_t v = 0;
            const uint8_t *p = (const uint8_t *)&recs[idx[j]] + offsets[f];
            switch (widths[f]) {
            case 1: v = *p; break;
            case 2: { uint16_t x; memcpy(&x, p, 2); v = x; break; }
            case 4: { uint32_t x; memcpy(&x, p, 4); v = x; break; }
            default: memcpy(&v, p, 8); break;
            }
            CHECK(out[j * F + f] == v);
        }
    uint64_t guard[2] = {0x5a5a5a5a5a5a5a5aull, 0x5a5a5a5a5a5a5a5aull};
    uint32_t bad_idx[1] = {(uint32_t)n};
    CHECK(fp_rows(recs, n, bad_idx, 1, offsets, widths, 1, guard) == FP_E_RANGE);
    uint32_t past[1] = {sizeof(fp_record) - 3}, zero_idx[1] = {0};
    uint8_t w4[1] = {4}, w3[1] = {3};
    if (n > 0) {
        CHECK(fp_rows(recs, n, zero_idx, 1, past, w4, 1, guard) == FP_E_RANGE);
        CHECK(fp_rows(recs, n, zero_idx, 1, offsets, w3, 1, guard) == FP_E_RANGE);
    }
    CHECK(guard[0] == 0x5a5a5a5a5a5a5a5aull && guard[1] == 0x5a5a5a5a5a5a5a5aull);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    /* data[0]: switch index (bits 0-2: 4..7 have no site), a second call (bit 3), the
     * number of table ops (bits 4-7); data[1]: the sites of switches 0..3, 2 bits each. */
    uint32_t switch_index = data[0] & 7;
    int calls = 1 + ((data[0] >> 3) & 1);
    uint16_t sites[N_SITES];
    for (unsigned s = 0; s < N_SITES; s++) sites[s] = (data[1] >> (2 * s)) & 3;
    fp_quiet_entry spare[2][CAPACITY], copy_slots[CAPACITY];
    memset(spare, 0, sizeof spare);
    fp_quiet_table t = {spare[0], CAPACITY, 0, 1, 0};
    model m;
    memset(&m, 0, sizeof m);
    m.epoch = 1;
    size_t pos = apply_ops(data, size, 2, data[0] >> 4, &t, spare, &m);

    /* The frames: a mode byte each, then raw (a length byte, the bytes) or compact. */
    uint8_t made[MAX_FRAMES][60];
    const uint8_t *src[MAX_FRAMES];
    uint32_t lens[MAX_FRAMES];
    uint16_t in_port[MAX_FRAMES], vnet_id[MAX_FRAMES];
    uint8_t reason[MAX_FRAMES], present[MAX_FRAMES];
    size_t n = 0, total = 0;
    while (n < MAX_FRAMES && pos < size) {
        uint8_t mode = data[pos++];
        in_port[n] = (mode & 7) == 7 ? 511 : mode & 7;
        vnet_id[n] = (mode >> 3) & 3;
        present[n] = !((mode >> 5) & 1);
        reason[n] = (mode >> 6) & 1 ? 5 : 1;
        size_t len;
        if (mode & 0x80) {
            if (pos >= size) break;
            len = data[pos++];   /* 255: 255 + the next byte, for DHCP */
            if (len == 255 && pos < size) len += data[pos++];
            if (len > size - pos) len = size - pos;
            src[n] = data + pos;
            pos += len;
        } else {
            len = compact_frame(data, size, &pos, made[n]);
            if (len == 0 && pos >= size) break;
            src[n] = made[n];
        }
        lens[n] = (uint32_t)len;
        total += len;
        n++;
    }
    if (n == 0) return 0;
    uint8_t *buf = malloc(total ? total : 1);   /* exactly the frames: ASan sees past them */
    CHECK(buf != NULL);
    uint32_t starts[MAX_FRAMES];
    for (size_t i = 0, at = 0; i < n; at += lens[i], i++) {
        if (lens[i]) memcpy(buf + at, src[i], lens[i]);
        starts[i] = (uint32_t)at;
    }
    fp_meta_cols meta = {in_port, reason, vnet_id, present};
    fp_record recs[MAX_FRAMES];
    CHECK(fp_parse_batch(buf, total, lens, n, &meta, recs) == FP_OK);

    for (int call = 0; call < calls; call++) {
        memcpy(copy_slots, t.slots, sizeof copy_slots);
        fp_quiet_table t2 = t;
        t2.slots = copy_slots;
        uint32_t kept[MAX_FRAMES], kept2[MAX_FRAMES], ports[MAX_FRAMES];
        uint8_t replies[MAX_FRAMES * FP_ARP_REPLY_LEN];
        uint64_t counts[FP_Q_COUNTS] = {0}, counts2[FP_Q_COUNTS] = {0};
        fp_quiet_answers ans = {sites, N_SITES, replies, ports, 0};
        int k = fp_quiet_filter(&t, recs, n, buf, total, starts, switch_index, kept, counts, &ans);
        int k2 = fp_quiet_filter(&t2, recs, n, buf, total, starts, switch_index, kept2, counts2,
                                 NULL);
        CHECK(k >= 0 && k2 >= 0 && (size_t)k2 <= n);
        CHECK(counts2[FP_Q_ANSWERED] == 0 && counts[FP_Q_ANSWERED] == ans.n);
        uint64_t sum = (uint64_t)k;
        for (int c = 0; c < FP_Q_COUNTS; c++) sum += counts[c];
        CHECK(sum == n);
        for (int c = 0; c < FP_Q_ANSWERED; c++) CHECK(counts[c] == counts2[c]);
        CHECK((size_t)k + ans.n == (size_t)k2);
        /* kept2 = kept merged with the answered, which are answered in order */
        size_t a = 0, b = 0;
        for (int j = 0; j < k2; j++) {
            CHECK(j == 0 || kept2[j] > kept2[j - 1]);
            uint32_t i = kept2[j];
            CHECK(i < n);
            if (a < (size_t)k && kept[a] == i) {
                a++;
                continue;
            }
            CHECK(b < ans.n);
            check_answer(&m, &recs[i], switch_index, sites, replies + b * FP_ARP_REPLY_LEN,
                         ports[b]);
            b++;
        }
        CHECK(a == (size_t)k && b == ans.n);
        CHECK(t.stamp == t2.stamp && memcmp(t.slots, copy_slots, sizeof copy_slots) == 0);
        check_rows(recs, n, kept2, (size_t)k2);
    }

    /* Arguments it must refuse before changing anything. */
    uint32_t stamp = t.stamp, out_idx[MAX_FRAMES];
    uint64_t counts[FP_Q_COUNTS] = {0};
    uint32_t bad_starts[MAX_FRAMES];
    memcpy(bad_starts, starts, sizeof starts);
    bad_starts[n - 1] = (uint32_t)total + 1;
    CHECK(fp_quiet_filter(&t, recs, n, buf, total, bad_starts, switch_index, out_idx, counts,
                          NULL) == FP_E_BOUNDS);
    if (lens[n - 1] > 0)
        CHECK(fp_quiet_filter(&t, recs, n, buf, total - 1, starts, switch_index, out_idx,
                              counts, NULL) == FP_E_BOUNDS);
    CHECK(fp_quiet_filter(&t, recs, n, buf, total, starts, 0x10000, out_idx, counts, NULL)
          == FP_E_RANGE);
    uint32_t ports[MAX_FRAMES];
    uint8_t replies[MAX_FRAMES * FP_ARP_REPLY_LEN];
    fp_quiet_answers used = {sites, N_SITES, replies, ports, 1};   /* n must start at 0 */
    CHECK(fp_quiet_filter(&t, recs, n, buf, total, starts, switch_index, out_idx, counts,
                          &used) == FP_E_RANGE);
    CHECK(t.stamp == stamp && used.n == 1);
    for (int c = 0; c < FP_Q_COUNTS; c++) CHECK(counts[c] == 0);
    free(buf);
    return 0;
}
