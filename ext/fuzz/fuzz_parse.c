/* libFuzzer harness of the packet-in parser (ext/fp_parse.c), built by run.sh with
 * AddressSanitizer and UndefinedBehaviorSanitizer.
 *
 * Each input is parsed (1) as one frame, straight from libFuzzer's buffer of
 * exactly its size, so any read past the frame is an ASan report; (2) cut into
 * a batch of frames with metadata, each record of which must equal the record
 * of its frame parsed alone from an exact-size copy, so that no frame's record
 * depends on its neighbours' bytes. Records must also keep the header's
 * promises (checked below); a broken one aborts, which libFuzzer reports.
 */
#include "fp_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)
#define MAX_FRAMES 8
#define ALL_LAYERS 0x0fff

static int all_zero(const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return 0;
    return 1;
}

static void check_record(const fp_record *r, size_t len) {
    CHECK(r->frame_len == len);
    CHECK(r->kind <= FP_KIND_GRE);
    CHECK(r->reject <= FP_REJECT_MALFORMED);
    CHECK((r->layers & ~ALL_LAYERS) == 0);
    if (r->reject == FP_REJECT_NONE) {
        static const uint16_t need[] = {0, FP_L_ARP, FP_L_ARP, FP_L_LLDP, FP_L_DHCP, FP_L_IPV4,
                                        FP_L_GRE};
        CHECK(r->kind != FP_KIND_OTHER);
        CHECK(r->layers & need[r->kind]);
    }
    if (!(r->layers & FP_L_ETH)) CHECK(r->eth_dst == 0 && r->eth_src == 0 && r->ether_type == 0);
    if (!(r->layers & (FP_L_ARP | FP_L_INNER_ARP))) CHECK(all_zero(&r->arp, sizeof r->arp));
    CHECK(!((r->layers & FP_L_ARP) && (r->layers & FP_L_INNER_ARP)));
    if (!(r->layers & FP_L_IPV4)) CHECK(all_zero(&r->ip, sizeof r->ip));
    if (!(r->layers & FP_L_GRE)) CHECK(all_zero(&r->gre, sizeof r->gre));
    if (!(r->layers & FP_L_DHCP)) CHECK(all_zero(&r->dhcp, sizeof r->dhcp));
    if (!(r->layers & FP_L_META)) CHECK(all_zero(&r->meta, sizeof r->meta));
    if (r->layers & FP_L_LLDP) {
        CHECK((size_t)r->lldp.chassis_off + r->lldp.chassis_len <= len);
        CHECK((size_t)r->lldp.port_off + r->lldp.port_len <= len);
        CHECK(r->lldp.chassis_len >= 1 && r->lldp.port_len >= 1);
    } else {
        CHECK(all_zero(&r->lldp, sizeof r->lldp));
    }
    if (r->layers & (FP_L_INNER_ETH | FP_L_INNER_IPV4)) CHECK(r->layers & FP_L_GRE);
}

/* The record of data[0 .. len) parsed alone, from a heap copy of exactly len bytes. */
static void parse_alone(const uint8_t *data, size_t len, fp_record *r) {
    uint8_t *copy = malloc(len ? len : 1);
    CHECK(copy != NULL);
    if (len) memcpy(copy, data, len);
    uint32_t len32 = (uint32_t)len;
    CHECK(fp_parse_batch(copy, len, &len32, 1, NULL, r) == FP_OK);
    free(copy);
    check_record(r, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FP_FRAME_MAX + 16) return 0;
    fp_record one;
    uint32_t size32 = (uint32_t)size;
    CHECK(fp_parse_batch(data, size, &size32, 1, NULL, &one) == FP_OK);
    check_record(&one, size);

    /* The same bytes as a batch: the first byte says how many frames, the next
     * ones where to cut, the rest are the frames. */
    if (size < 2) return 0;
    size_t n = 1 + data[0] % MAX_FRAMES;
    if (size < 1 + n) return 0;
    const uint8_t *cuts = data + 1, *buf = data + 1 + n;
    size_t buf_len = size - 1 - n;
    uint32_t lens[MAX_FRAMES];
    uint16_t in_port[MAX_FRAMES], vnet_id[MAX_FRAMES];
    uint8_t reason[MAX_FRAMES], present[MAX_FRAMES];
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t left = buf_len - at;
        size_t take = i + 1 == n ? left : (left * cuts[i]) / 255;
        at += take;
        lens[i] = (uint32_t)take;
        present[i] = cuts[i] & 1;
        in_port[i] = (uint16_t)((cuts[i] * 3u) & 0x1ff);
        reason[i] = cuts[i];
        vnet_id[i] = (uint16_t)((cuts[i] * 17u) & 0xfff);
    }
    /* Metadata for some frames (present[]), or for all of them (present NULL). */
    fp_meta_cols meta = {in_port, reason, vnet_id, (data[0] & 0x80) ? NULL : present};
    if (meta.present == NULL) memset(present, 1, sizeof present);
    fp_record recs[MAX_FRAMES];
    CHECK(fp_parse_batch(buf, buf_len, lens, n, &meta, recs) == FP_OK);
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        fp_record alone;
        parse_alone(buf + start, lens[i], &alone);
        if (present[i]) {
            CHECK(recs[i].layers & FP_L_META);
            CHECK(recs[i].meta.in_port == in_port[i] && recs[i].meta.reason == reason[i]
                  && recs[i].meta.vnet_id == vnet_id[i] && recs[i].meta.present == 1
                  && recs[i].meta._pad[0] == 0 && recs[i].meta._pad[1] == 0);
            recs[i].layers &= (uint16_t)~FP_L_META;
            memset(&recs[i].meta, 0, sizeof recs[i].meta);
        }
        CHECK(memcmp(&recs[i], &alone, sizeof alone) == 0);
        start += lens[i];
    }

    /* Arguments it must refuse, leaving the records alone. */
    fp_record guard[2];
    memset(guard, 0xa5, sizeof guard);
    uint32_t bad_lens[2] = {(uint32_t)buf_len, 1};
    CHECK(fp_parse_batch(buf, buf_len, bad_lens, 2, NULL, guard) == FP_E_BOUNDS);
    uint32_t huge_lens[2] = {UINT32_MAX, UINT32_MAX};
    CHECK(fp_parse_batch(buf, buf_len, huge_lens, 2, NULL, guard) == FP_E_BOUNDS);
    uint16_t bad_port[1] = {512}, ok_vnet[1] = {0};
    uint8_t ok_reason[1] = {1};
    fp_meta_cols bad_meta = {bad_port, ok_reason, ok_vnet, NULL};
    uint32_t whole = (uint32_t)buf_len;
    CHECK(fp_parse_batch(buf, buf_len, &whole, 1, &bad_meta, guard) == FP_E_META);
    const uint8_t *g = (const uint8_t *)guard;
    for (size_t i = 0; i < sizeof guard; i++) CHECK(g[i] == 0xa5);
    return 0;
}
