/* libFuzzer harness of the Write decoder (ext/fp_p4rt.c), built by run.sh with
 * AddressSanitizer and UndefinedBehaviorSanitizer.
 *
 * The first byte picks a schema (none, a small fixed one, or that one with ids,
 * widths and ranges changed by the input's last bytes, which must then pass or
 * fail fp_p4rt_schema_check); the rest is the request, decoded from an
 * exact-size heap copy into exact-size heap arrays, so that any read or write
 * outside them is an ASan report. A decoded request must keep the header's
 * promises (checked below); each update decoded alone, as the one update of a
 * request, must give the same columns and verdict, so no update depends on its
 * neighbours; arrays one entry too small must give FP_E_CAPACITY and the same
 * counts. A broken promise aborts, which libFuzzer reports.
 */
#include "fp_p4rt.h"
#include "fp_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

/* Tables 10, 20, 30; actions 100 (a 9-bit param), 200 (none), 300 (48 and 64 bits). */
static uint32_t table_id[] = {10, 20, 30};
static uint8_t table_flags[] = {0, FP_T_CONST_DEFAULT, 0};
static uint32_t table_field_first[] = {0, 2, 4, 4};
static uint32_t table_ref_first[] = {0, 2, 3, 5};
static uint32_t field_id[] = {1, 2, 1, 2};
static uint32_t field_bits[] = {12, 48, 32, 8};
static uint8_t field_flags[] = {FP_F_EXACT, FP_F_EXACT, FP_F_EXACT, 0};
static uint32_t ref_action[] = {0, 1, 2, 0, 2};
static uint8_t ref_flags[] = {0, FP_R_DEFAULT_ONLY, 0, 0, 0};
static uint32_t action_id[] = {100, 200, 300};
static uint32_t action_param_first[] = {0, 1, 1, 3};
static uint32_t param_id[] = {1, 1, 2};
static uint32_t param_bits[] = {9, 48, 64};

#define NFIELDS 4
#define NPARAMS 3

static fp_p4rt_schema fixed_schema(void) {
    fp_p4rt_schema s = {3, table_id, table_flags, table_field_first, table_ref_first,
                        NFIELDS, field_id, field_bits, field_flags,
                        5, ref_action, ref_flags,
                        3, action_id, action_param_first,
                        NPARAMS, param_id, param_bits};
    return s;
}

typedef struct owned {
    fp_p4rt_cols c;
} owned;

static void *xalloc(size_t n, size_t size) {
    void *p = malloc(n * size ? n * size : 1);
    CHECK(p != NULL);
    memset(p, 0x5a, n * size);
    return p;
}

static void cols_alloc(owned *o, uint32_t nu, uint32_t nm, uint32_t np) {
    fp_p4rt_cols *c = &o->c;
    memset(c, 0, sizeof *c);
    c->cap_updates = nu;
    c->cap_matches = nm;
    c->cap_params = np;
    c->cap_seen = NFIELDS + NPARAMS;
    c->u_type = xalloc(nu, 1);
    c->u_flags = xalloc(nu, 1);
    c->u_verdict = xalloc(nu, 1);
    c->u_table = xalloc(nu, 4);
    c->u_priority = xalloc(nu, 4);
    c->u_match_first = xalloc(nu, 4);
    c->u_match_count = xalloc(nu, 4);
    c->u_action = xalloc(nu, 4);
    c->u_param_first = xalloc(nu, 4);
    c->u_param_count = xalloc(nu, 4);
    c->u_offset = xalloc(nu, 4);
    c->u_length = xalloc(nu, 4);
    c->m_field = xalloc(nm, 4);
    c->m_value = xalloc(nm, 8);
    c->m_len = xalloc(nm, 1);
    c->p_param = xalloc(np, 4);
    c->p_value = xalloc(np, 8);
    c->p_len = xalloc(np, 1);
    c->seen = xalloc(c->cap_seen, 4);
}

static void cols_free(owned *o) {
    fp_p4rt_cols *c = &o->c;
    void *all[] = {c->u_type, c->u_flags, c->u_verdict, c->u_table, c->u_priority,
                   c->u_match_first, c->u_match_count, c->u_action, c->u_param_first,
                   c->u_param_count, c->u_offset, c->u_length, c->m_field, c->m_value,
                   c->m_len, c->p_param, c->p_value, c->p_len, c->seen};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

static int decode_copy(const uint8_t *data, size_t size, const fp_p4rt_schema *s, owned *o,
                       fp_p4rt_request *req) {
    uint8_t *copy = xalloc(size, 1);
    if (size) memcpy(copy, data, size);
    int rc = fp_p4rt_decode(copy, size, s, &o->c, req);
    free(copy);
    return rc;
}

/* What fp_p4rt.h promises of a decoded request. */
static void check_batch(const fp_p4rt_cols *c, const fp_p4rt_request *r, size_t size, int schema) {
    uint32_t nm = 0, np = 0, slow = 0;
    size_t end = 0;
    CHECK((size_t)r->role_offset + r->role_length <= size);
    for (uint32_t i = 0; i < r->n_updates; i++) {
        CHECK(c->u_match_first[i] == nm && c->u_param_first[i] == np);
        nm += c->u_match_count[i];
        np += c->u_param_count[i];
        CHECK(c->u_offset[i] >= end && (size_t)c->u_offset[i] + c->u_length[i] <= size);
        end = (size_t)c->u_offset[i] + c->u_length[i];
        if (!(c->u_flags[i] & FP_U_FAST)) {
            slow++;
            CHECK(c->u_flags[i] == 0 && c->u_type[i] == 0 && c->u_table[i] == 0
                  && c->u_priority[i] == 0 && c->u_action[i] == 0 && c->u_match_count[i] == 0
                  && c->u_param_count[i] == 0 && c->u_verdict[i] == FP_V_NONE);
            continue;
        }
        CHECK((c->u_flags[i] & ~(FP_U_FAST | FP_U_DEFAULT | FP_U_ACTION)) == 0);
        CHECK(c->u_type[i] <= 3);
        CHECK(schema ? c->u_verdict[i] <= FP_V_MISSING_PARAM : c->u_verdict[i] == FP_V_NONE);
        if (!(c->u_flags[i] & FP_U_ACTION)) CHECK(c->u_action[i] == 0 && c->u_param_count[i] == 0);
    }
    CHECK(nm == r->n_matches && np == r->n_params && slow == r->n_slow);
    for (uint32_t m = 0; m < nm; m++)
        CHECK(c->m_len[m] <= FP_P4RT_VALUE_MAX
              && (c->m_len[m] == 8 || c->m_value[m] >> (8 * c->m_len[m]) == 0));
    for (uint32_t p = 0; p < np; p++)
        CHECK(c->p_len[p] <= FP_P4RT_VALUE_MAX
              && (c->p_len[p] == 8 || c->p_value[p] >> (8 * c->p_len[p]) == 0));
}

/* Update i of (c, r) decoded alone, as the only update of a request. */
static void check_alone(const uint8_t *data, const fp_p4rt_cols *c, uint32_t i,
                        const fp_p4rt_schema *s) {
    uint32_t len = c->u_length[i];
    uint8_t *req = xalloc((size_t)len + 6, 1);
    size_t at = 0;
    req[at++] = 0x22;
    for (uint32_t v = len; ; v >>= 7) {
        req[at++] = (uint8_t)((v & 0x7f) | (v >> 7 ? 0x80 : 0));
        if (!(v >> 7)) break;
    }
    memcpy(req + at, data + c->u_offset[i], len);
    owned one;
    fp_p4rt_request r1;
    cols_alloc(&one, 1, c->u_match_count[i], c->u_param_count[i]);
    CHECK(decode_copy(req, at + len, s, &one, &r1) == FP_OK);
    const fp_p4rt_cols *d = &one.c;
    CHECK(r1.n_updates == 1 && r1.n_matches == c->u_match_count[i]
          && r1.n_params == c->u_param_count[i]);
    CHECK(d->u_flags[0] == c->u_flags[i] && d->u_type[0] == c->u_type[i]
          && d->u_table[0] == c->u_table[i] && d->u_priority[0] == c->u_priority[i]
          && d->u_action[0] == c->u_action[i] && d->u_verdict[0] == c->u_verdict[i]
          && d->u_offset[0] == at && d->u_length[0] == len);
    for (uint32_t m = 0; m < r1.n_matches; m++) {
        uint32_t k = c->u_match_first[i] + m;
        CHECK(d->m_field[m] == c->m_field[k] && d->m_value[m] == c->m_value[k]
              && d->m_len[m] == c->m_len[k]);
    }
    for (uint32_t p = 0; p < r1.n_params; p++) {
        uint32_t k = c->u_param_first[i] + p;
        CHECK(d->p_param[p] == c->p_param[k] && d->p_value[p] == c->p_value[k]
              && d->p_len[p] == c->p_len[k]);
    }
    cols_free(&one);
    free(req);
}

/* The fixed schema with some of its numbers taken from the input's last bytes. */
static void perturb(const uint8_t *data, size_t size, fp_p4rt_schema *s, uint32_t *ids,
                    uint32_t *firsts, uint32_t *refs) {
    memcpy(ids, table_id, sizeof table_id);
    memcpy(firsts, table_field_first, sizeof table_field_first);
    memcpy(refs, ref_action, sizeof ref_action);
    for (size_t k = 0; k < 6 && k < size; k++) {
        uint8_t b = data[size - 1 - k];
        switch (b & 3) {
        case 0: ids[b % 3] = b >> 2; break;
        case 1: firsts[(b >> 2) % 4] = (b >> 4) % 6; break;
        case 2: refs[(b >> 2) % 5] = (b >> 4) % 4; break;
        default: s->nfields = NFIELDS - (b >> 7); break;
        }
    }
    s->table_id = ids;
    s->table_field_first = firsts;
    s->ref_action = refs;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1u << 20)) return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    fp_p4rt_schema fixed = fixed_schema(), *s = NULL;
    uint32_t ids[3], firsts[4], refs[5];
    if (mode & 1) s = &fixed;
    if ((mode & 3) == 3) {
        perturb(data, size, &fixed, ids, firsts, refs);
        if (fp_p4rt_schema_check(&fixed) != FP_OK) {
            owned o;
            fp_p4rt_request r;
            cols_alloc(&o, 1, 1, 1);
            CHECK(decode_copy(data, size, s, &o, &r) == FP_E_SCHEMA);
            cols_free(&o);
            return 0;
        }
    }
    /* Every update takes 2 bytes at least, every match and parameter too. */
    uint32_t cap = (uint32_t)(size / 2 + 1);
    owned o;
    fp_p4rt_request r;
    cols_alloc(&o, cap, cap, cap);
    int rc = decode_copy(data, size, s, &o, &r);
    CHECK(rc == FP_OK || rc == FP_E_MALFORMED || rc == FP_E_UNSUPPORTED);
    if (rc == FP_OK) {
        check_batch(&o.c, &r, size, s != NULL);
        for (uint32_t i = 0; i < r.n_updates; i++) check_alone(data, &o.c, i, s);
        /* One entry short of what it needs: refused, with the same counts. */
        if (r.n_updates + r.n_matches + r.n_params > 0) {
            owned small;
            fp_p4rt_request r2;
            uint32_t nu = r.n_updates, nm = r.n_matches, np = r.n_params;
            cols_alloc(&small, nu ? nu - !!(mode & 4) : 0, nm ? nm - !(mode & 4) : 0,
                       np ? np - 1 : 0);
            int rc2 = decode_copy(data, size, s, &small, &r2);
            int short_of = small.c.cap_updates < nu || small.c.cap_matches < nm
                           || small.c.cap_params < np;
            CHECK(rc2 == (short_of ? FP_E_CAPACITY : FP_OK));
            CHECK(r2.n_updates == nu && r2.n_matches == nm && r2.n_params == np
                  && r2.n_slow == r.n_slow);
            cols_free(&small);
        }
    }
    cols_free(&o);
    return 0;
}
