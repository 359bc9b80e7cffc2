/* The verdicts of fast updates against a compiled P4Info; see fp_p4rt.h.
 *
 * fp_p4rt_verdict_of() takes the checks of parse_update() (ctrl/ovs/validate.py)
 * in the order that function makes them, so the first that fails is the reason
 * it would give. Duplicates are found with `seen`: one stamp per match field
 * and parameter of the schema, set to the update's stamp when met.
 */
#include "fp_p4rt_check.h"

#include "fp_parse.h"

enum { TYPE_INSERT = 1, TYPE_MODIFY = 2, TYPE_DELETE = 3 };

/* The index of `id` in the strictly increasing ids[0 .. n), or n. */
static uint32_t find(const uint32_t *ids, uint32_t n, uint32_t id) {
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && ids[lo] == id ? lo : n;
}

static int too_wide(uint64_t value, uint32_t bits) {
    return bits < 64 && (value >> bits) != 0;
}

/* first[0 .. n] runs from 0 up to total without going down. */
static int ranges_ok(const uint32_t *first, uint32_t n, uint32_t total) {
    if (first == NULL || first[0] != 0 || first[n] != total) return 0;
    for (uint32_t i = 0; i < n; i++)
        if (first[i] > first[i + 1]) return 0;
    return 1;
}

static int increasing(const uint32_t *ids, uint32_t n) {
    for (uint32_t i = 1; i < n; i++)
        if (ids[i - 1] >= ids[i]) return 0;
    return 1;
}

int fp_p4rt_schema_check(const fp_p4rt_schema *s) {
    if (s == NULL) return FP_E_NULL;
    if (s->ntables && (!s->table_id || !s->table_flags)) return FP_E_SCHEMA;
    if (s->nfields && (!s->field_id || !s->field_bits || !s->field_flags)) return FP_E_SCHEMA;
    if (s->nrefs && (!s->ref_action || !s->ref_flags)) return FP_E_SCHEMA;
    if (s->nactions && !s->action_id) return FP_E_SCHEMA;
    if (s->nparams && (!s->param_id || !s->param_bits)) return FP_E_SCHEMA;
    if (!ranges_ok(s->table_field_first, s->ntables, s->nfields)
        || !ranges_ok(s->table_ref_first, s->ntables, s->nrefs)
        || !ranges_ok(s->action_param_first, s->nactions, s->nparams))
        return FP_E_SCHEMA;
    if (!increasing(s->table_id, s->ntables) || !increasing(s->action_id, s->nactions))
        return FP_E_SCHEMA;
    for (uint32_t i = 0; i < s->nrefs; i++)
        if (s->ref_action[i] >= s->nactions) return FP_E_SCHEMA;
    return FP_OK;
}

/* The match fields of update u against table t's. */
static uint8_t check_matches(const fp_p4rt_schema *s, fp_p4rt_cols *c, size_t u, uint32_t t,
                             uint32_t stamp) {
    uint32_t f0 = s->table_field_first[t], f1 = s->table_field_first[t + 1];
    uint32_t m0 = c->u_match_first[u], count = c->u_match_count[u];
    for (uint32_t m = m0; m < m0 + count; m++) {
        uint32_t f = f0;
        while (f < f1 && s->field_id[f] != c->m_field[m]) f++;
        if (f == f1) return FP_V_UNKNOWN_FIELD;
        if (c->seen[f] == stamp) return FP_V_DUPLICATE_FIELD;
        c->seen[f] = stamp;
        if (!(s->field_flags[f] & FP_F_EXACT)) return FP_V_NOT_EXACT;
        if (c->m_len[m] == 0) return FP_V_EMPTY_VALUE;
        if (too_wide(c->m_value[m], s->field_bits[f])) return FP_V_FIELD_TOO_WIDE;
    }
    /* Each match met is another field of the table: a default entry has none. */
    if (!(c->u_flags[u] & FP_U_DEFAULT) && count < f1 - f0) return FP_V_MISSING_FIELD;
    return FP_V_OK;
}

/* The parameters of update u against action a's. */
static uint8_t check_params(const fp_p4rt_schema *s, fp_p4rt_cols *c, size_t u, uint32_t a,
                            uint32_t stamp) {
    uint32_t q0 = s->action_param_first[a], q1 = s->action_param_first[a + 1];
    uint32_t p0 = c->u_param_first[u], count = c->u_param_count[u];
    uint32_t *seen = c->seen + s->nfields;
    for (uint32_t p = p0; p < p0 + count; p++) {
        uint32_t q = q0;
        while (q < q1 && s->param_id[q] != c->p_param[p]) q++;
        if (q == q1) return FP_V_UNKNOWN_PARAM;
        if (seen[q] == stamp) return FP_V_DUPLICATE_PARAM;
        seen[q] = stamp;
        if (c->p_len[p] == 0) return FP_V_EMPTY_PARAM;
        if (too_wide(c->p_value[p], s->param_bits[q])) return FP_V_PARAM_TOO_WIDE;
    }
    return count < q1 - q0 ? FP_V_MISSING_PARAM : FP_V_OK;
}

uint8_t fp_p4rt_verdict_of(const fp_p4rt_schema *s, fp_p4rt_cols *c, size_t u, uint32_t stamp) {
    uint8_t type = c->u_type[u], flags = c->u_flags[u];
    if (type < TYPE_INSERT || type > TYPE_DELETE) return FP_V_BAD_TYPE;
    uint32_t t = find(s->table_id, s->ntables, c->u_table[u]);
    if (t == s->ntables) return FP_V_UNKNOWN_TABLE;
    if (flags & FP_U_DEFAULT) {
        if (type != TYPE_MODIFY) return FP_V_DEFAULT_NOT_MODIFY;
        if (c->u_match_count[u]) return FP_V_DEFAULT_HAS_MATCH;
        if (s->table_flags[t] & FP_T_CONST_DEFAULT) return FP_V_CONST_DEFAULT;
    }
    if (c->u_priority[u] != 0) return FP_V_PRIORITY;
    uint8_t v = check_matches(s, c, u, t, stamp);
    if (v != FP_V_OK) return v;
    if (!(flags & FP_U_ACTION)) return type == TYPE_DELETE ? FP_V_OK : FP_V_NO_ACTION;
    uint32_t a = find(s->action_id, s->nactions, c->u_action[u]);
    if (a == s->nactions) return FP_V_UNKNOWN_ACTION;
    uint32_t r = s->table_ref_first[t], r1 = s->table_ref_first[t + 1];
    while (r < r1 && s->ref_action[r] != a) r++;
    if (r == r1) return FP_V_ACTION_NOT_IN_TABLE;
    if (!(flags & FP_U_DEFAULT) && (s->ref_flags[r] & FP_R_DEFAULT_ONLY))
        return FP_V_DEFAULT_ONLY_ACTION;
    return check_params(s, c, u, a, stamp);
}
