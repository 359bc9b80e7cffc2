/* libFuzzer harness of the Write encoder (ext/fp_p4rt_enc.c), built by run.sh with
 * AddressSanitizer and UndefinedBehaviorSanitizer.
 *
 * The input is a few shapes (ids, slot ids and bit widths) and updates (type, shape,
 * values), all taken from its bytes, in exact-size heap arrays. The encoder must say
 * how many bytes it needs with no room, write exactly that many into an exact-size
 * buffer, and refuse one byte less; what it wrote, decoded by the Write decoder
 * (ext/fp_p4rt.c) as the updates of a request, must be those updates, each fast, with
 * their types, ids and values. A broken promise aborts, which libFuzzer reports.
 */
#include "fp_p4rt.h"
#include "fp_p4rt_enc.h"
#include "fp_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)
#define MAX_SHAPES 4
#define MAX_SLOTS 5
#define MAX_UPDATES 16

typedef struct input {
    const uint8_t *p;
    size_t left;
} input;

static uint64_t take(input *in, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v = v << 8 | (in->left ? *in->p : 0);
        if (in->left) {
            in->p++;
            in->left--;
        }
    }
    return v;
}

static void *xalloc(size_t n, size_t size) {
    void *p = malloc(n * size ? n * size : 1);
    CHECK(p != NULL);
    memset(p, 0x5a, n * size);
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    input in = {data, size};
    size_t nshapes = 1 + take(&in, 1) % MAX_SHAPES;
    fp_p4rt_shape *shapes = xalloc(nshapes, sizeof *shapes);
    uint32_t *slot_id = xalloc(nshapes * 2 * MAX_SLOTS, sizeof *slot_id);
    uint32_t *slot_bits = xalloc(nshapes * 2 * MAX_SLOTS, sizeof *slot_bits);
    size_t nslots = 0;
    for (size_t s = 0; s < nshapes; s++) {
        shapes[s].table_id = (uint32_t)take(&in, 4);
        shapes[s].action_id = (uint32_t)take(&in, 4);
        shapes[s].first = (uint32_t)nslots;
        shapes[s].nfields = (uint32_t)(take(&in, 1) % MAX_SLOTS);
        shapes[s].nparams = (uint32_t)(take(&in, 1) % MAX_SLOTS);
        for (uint32_t i = 0; i < shapes[s].nfields + shapes[s].nparams; i++) {
            slot_id[nslots] = (uint32_t)take(&in, 2) << (take(&in, 1) % 17);
            slot_bits[nslots++] = 1 + (uint32_t)(take(&in, 1) % 70);
        }
    }
    size_t nupdates = take(&in, 1) % (MAX_UPDATES + 1);
    uint8_t *u_type = xalloc(nupdates, 1);
    uint32_t *u_shape = xalloc(nupdates, sizeof *u_shape);
    size_t nvalues = 0;
    for (size_t u = 0; u < nupdates; u++) {
        u_type[u] = (uint8_t)(1 + take(&in, 1) % 3);
        u_shape[u] = (uint32_t)(take(&in, 1) % nshapes);
        nvalues += shapes[u_shape[u]].nfields + shapes[u_shape[u]].nparams;
    }
    uint64_t *values = xalloc(nvalues, sizeof *values);
    for (size_t i = 0; i < nvalues; i++) {
        uint64_t v = take(&in, 8);
        values[i] = v >> (take(&in, 1) % 64);   /* short values too */
    }
    int fits = 1;   /* every value within its slot's width */
    for (size_t u = 0, at = 0; u < nupdates; u++) {
        const fp_p4rt_shape *sh = &shapes[u_shape[u]];
        for (uint32_t i = 0; i < sh->nfields + sh->nparams; i++, at++) {
            uint32_t bits = slot_bits[sh->first + i];
            if (bits < 64 && values[at] >> bits)
                fits = 0;
        }
    }

    size_t need = 0;
    int rc = fp_p4rt_encode(shapes, nshapes, slot_id, slot_bits, nslots, u_type, u_shape,
                            nupdates, values, nvalues, NULL, 0, &need);
    if (!fits) {
        CHECK(rc == FP_ENC_E_VALUE && need < nupdates);
        goto done;
    }
    CHECK(rc == (nupdates ? FP_ENC_E_CAPACITY : FP_ENC_OK));
    uint8_t *out = xalloc(need, 1);
    size_t len = 0;
    CHECK(fp_p4rt_encode(shapes, nshapes, slot_id, slot_bits, nslots, u_type, u_shape,
                         nupdates, values, nvalues, out, need, &len) == FP_ENC_OK);
    CHECK(len == need);
    if (need) {
        size_t again = 0;
        CHECK(fp_p4rt_encode(shapes, nshapes, slot_id, slot_bits, nslots, u_type, u_shape,
                             nupdates, values, nvalues, out, need - 1, &again)
              == FP_ENC_E_CAPACITY && again == need);
    }
    /* What it wrote is a request's updates: decoded, each fast and the same. */
    fp_p4rt_cols c;
    memset(&c, 0, sizeof c);
    uint32_t cap = (uint32_t)(nupdates + 1), vcap = (uint32_t)(nvalues + 1);
    c.cap_updates = cap;
    c.cap_matches = c.cap_params = vcap;
    c.u_type = xalloc(cap, 1);
    c.u_flags = xalloc(cap, 1);
    c.u_verdict = xalloc(cap, 1);
    c.u_table = xalloc(cap, 4);
    c.u_priority = xalloc(cap, 4);
    c.u_match_first = xalloc(cap, 4);
    c.u_match_count = xalloc(cap, 4);
    c.u_action = xalloc(cap, 4);
    c.u_param_first = xalloc(cap, 4);
    c.u_param_count = xalloc(cap, 4);
    c.u_offset = xalloc(cap, 4);
    c.u_length = xalloc(cap, 4);
    c.m_field = xalloc(vcap, 4);
    c.m_value = xalloc(vcap, 8);
    c.m_len = xalloc(vcap, 1);
    c.p_param = xalloc(vcap, 4);
    c.p_value = xalloc(vcap, 8);
    c.p_len = xalloc(vcap, 1);
    fp_p4rt_request req;
    CHECK(fp_p4rt_decode(out, len, NULL, &c, &req) == FP_OK);
    CHECK(req.n_updates == nupdates && req.n_slow == 0);
    for (size_t u = 0, at = 0; u < nupdates; u++) {
        const fp_p4rt_shape *sh = &shapes[u_shape[u]];
        CHECK(c.u_type[u] == u_type[u] && (c.u_flags[u] & FP_U_FAST));
        CHECK(c.u_table[u] == sh->table_id && c.u_action[u] == sh->action_id);
        CHECK(c.u_match_count[u] == sh->nfields && c.u_param_count[u] == sh->nparams);
        for (uint32_t i = 0; i < sh->nfields; i++, at++) {
            uint32_t m = c.u_match_first[u] + i;
            CHECK(c.m_field[m] == slot_id[sh->first + i] && c.m_value[m] == values[at]);
        }
        for (uint32_t i = 0; i < sh->nparams; i++, at++) {
            uint32_t p = c.u_param_first[u] + i;
            CHECK(c.p_param[p] == slot_id[sh->first + sh->nfields + i]
                  && c.p_value[p] == values[at]);
        }
    }
    free(c.u_type); free(c.u_flags); free(c.u_verdict); free(c.u_table); free(c.u_priority);
    free(c.u_match_first); free(c.u_match_count); free(c.u_action); free(c.u_param_first);
    free(c.u_param_count); free(c.u_offset); free(c.u_length); free(c.m_field);
    free(c.m_value); free(c.m_len); free(c.p_param); free(c.p_value); free(c.p_len);
    free(out);
done:
    free(shapes);
    free(slot_id);
    free(slot_bits);
    free(u_type);
    free(u_shape);
    free(values);
    return 0;
}
