/* P4Runtime Write decoding; see fp_p4rt.h for the contract.
 *
 * A reader (rd) holds one message's bounds [pos, end); every byte is read only
 * after pos < end said it is there, and every length is checked against
 * end - pos before it is used. The request level mirrors protobuf's parser,
 * upb (mirror_*); the update level (upd_*) takes only the canonical encoding
 * of the common case and answers P_SLOW for anything else, P_BAD for bytes
 * protobuf refuses as well. The verdicts are in fp_p4rt_check.c.
 */
#include "fp_p4rt.h"

#include <string.h>

#include "fp_p4rt_check.h"
#include "fp_parse.h"

enum { P_OK = 0, P_SLOW = 1, P_BAD = 2, P_UNSUPPORTED = 3 };
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };
enum { VARINT_MAX = 10 };

typedef struct rd {
    const uint8_t *b;
    size_t pos, end;
} rd;

/* A varint at r->pos: 1, with its value (64 bits, as protobuf keeps them) and
 * its length; 0 when it runs past r->end or over VARINT_MAX bytes. */
static int varint(rd *r, uint64_t *value, size_t *nbytes) {
    uint64_t v = 0;
    for (unsigned i = 0; i < VARINT_MAX; i++) {
        if (r->pos >= r->end) return 0;
        uint8_t c = r->b[r->pos++];
        v |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) {
            *value = v;
            *nbytes = (size_t)i + 1;
            return 1;
        }
    }
    return 0;
}

/* Whether the varint just read (nbytes, ending at r->pos) is how protobuf writes v. */
static int minimal(const rd *r, uint64_t v, size_t nbytes) {
    size_t want = 1;
    for (uint64_t x = v >> 7; x; x >>= 7) want++;
    return nbytes == want && (nbytes < VARINT_MAX || r->b[r->pos - 1] == 1);
}

static uint64_t be_value(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

/* Strict UTF-8 as Python decodes it: no overlong forms, surrogates or values
 * above U+10FFFF. */
static int utf8_ok(const uint8_t *s, size_t n) {
    static const uint32_t lowest[4] = {0, 0x80, 0x800, 0x10000}; /* by continuation bytes */
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t k = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2
                 : (c & 0xf8) == 0xf0 ? 3 : 4;
        if (k == 4 || k > n - i - 1) return 0;
        uint32_t cp = c & (0x7fu >> k);
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + j] & 0x3fu);
        }
        if (cp < lowest[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += k + 1;
    }
    return 1;
}

/* ---- The request level: as protobuf's parser (upb) reads it. ---- */

/* upb reads a tag as a varint of at most 5 bytes whose value fits 32 bits; a padded
 * tag (0xa2 0x00 for 0x22) names the same field. */
static int tag_ok(uint64_t tag, size_t nbytes) {
    return nbytes <= 5 && tag <= 0xffffffffu;
}

/* A tag at r->pos: P_OK with its bytes' count, P_BAD where protobuf refuses it. */
static int mirror_tag(rd *r, uint64_t *tag, size_t *nbytes) {
    if (!varint(r, tag, nbytes) || !tag_ok(*tag, *nbytes)) return P_BAD;
    unsigned wt = (unsigned)(*tag & 7);
    if ((*tag >> 3) == 0 || wt == WT_EGROUP || wt > WT_I32) return P_BAD;
    return wt == WT_SGROUP ? P_UNSUPPORTED : P_OK;
}

/* Skips the value of a field protobuf does not know here (its tag just read). */
static int mirror_skip(rd *r, unsigned wt) {
    uint64_t v;
    size_t n, want = 0;
    switch (wt) {
    case WT_VARINT:
        return varint(r, &v, &n) ? P_OK : P_BAD;
    case WT_I64:
        want = 8;
        break;
    case WT_I32:
        want = 4;
        break;
    default: /* WT_LEN; mirror_tag let no other through */
        if (!varint(r, &v, &n)) return P_BAD;
        if (v > r->end - r->pos) return P_BAD;
        want = (size_t)v;
        break;
    }
    if (want > r->end - r->pos) return P_BAD;
    r->pos += want;
    return P_OK;
}

/* A length-delimited value's bounds, the tag read. */
static int mirror_len(rd *r, size_t *start, size_t *end) {
    uint64_t v;
    size_t n;
    if (!varint(r, &v, &n) || v > r->end - r->pos) return P_BAD;
    *start = r->pos;
    *end = r->pos + (size_t)v;
    r->pos = *end;
    return P_OK;
}

/* p4.v1.Uint128 {uint64 high = 1; uint64 low = 2;}, merged into what came before. */
static int mirror_uint128(const uint8_t *b, size_t start, size_t end, fp_p4rt_request *req) {
    rd r = {b, start, end};
    while (r.pos < r.end) {
        uint64_t tag, v;
        size_t n;
        int rc = mirror_tag(&r, &tag, &n);
        if (rc != P_OK) return rc;
        if (tag == 0x08 || tag == 0x10) {
            if (!varint(&r, &v, &n)) return P_BAD;
            if (tag == 0x08)
                req->election_high = v;
            else
                req->election_low = v;
        } else if ((rc = mirror_skip(&r, (unsigned)(tag & 7))) != P_OK) {
            return rc;
        }
    }
    req->has_election_id = 1;
    return P_OK;
}

/* ---- The update level: the canonical encoding of the common case only. ---- */

/* Where the current update's columns go (copied to the arrays when they fit). */
typedef struct upd {
    uint8_t type, flags;
    uint32_t table, action;
    int32_t priority;
} upd;

typedef struct ctx {
    const uint8_t *b;
    fp_p4rt_cols *c;
    size_t nm, np;     /* matches and parameters so far */
    upd u;
} ctx;

/* One field of a message of the common case, value read. */
typedef struct field {
    unsigned num;
    uint64_t v;          /* a varint's value */
    size_t start, end;   /* a length-delimited value's bounds */
} field;

/* The next field of a message whose fields are `tags` (single-byte tags, in
 * field-number order; numbers in `repeated` may come again at once). P_SLOW for
 * any other field, one out of order, a zero or non-minimal varint. */
static int upd_field(rd *r, const uint8_t *tags, size_t ntags, uint32_t repeated,
                     unsigned *last, field *f) {
    uint64_t tag;
    size_t n;
    f->start = f->end = r->pos;
    if (!varint(r, &tag, &n) || !tag_ok(tag, n)) return P_BAD;
    unsigned wt = (unsigned)(tag & 7);
    if ((tag >> 3) == 0 || wt == WT_EGROUP || wt > WT_I32) return P_BAD;
    if (n != 1 || memchr(tags, (int)tag, ntags) == NULL) return P_SLOW;
    f->num = (unsigned)(tag >> 3);
    if (f->num < *last || (f->num == *last && !((repeated >> f->num) & 1))) return P_SLOW;
    *last = f->num;
    if (!varint(r, &f->v, &n)) return P_BAD;
    if (!minimal(r, f->v, n)) return P_SLOW;
    if (wt == WT_VARINT) return f->v == 0 ? P_SLOW : P_OK;
    if (f->v > r->end - r->pos) return P_BAD;
    f->start = r->pos;
    f->end = r->pos + (size_t)f->v;
    r->pos = f->end;
    return P_OK;
}

static int u32_ok(uint64_t v) { return v <= 0xffffffffu; }

/* bytes value, canonical: 1 to FP_P4RT_VALUE_MAX bytes (empty bytes are not written). */
static int value_of(const uint8_t *b, const field *f, uint64_t *value, uint8_t *len) {
    size_t n = f->end - f->start;
    if (n > FP_P4RT_VALUE_MAX) return P_SLOW;
    *value = be_value(b + f->start, n);
    *len = (uint8_t)n;
    return n ? P_OK : P_SLOW;
}

/* The matches' or the parameters' columns: ids, values, lengths. */
typedef struct column3 {
    uint32_t *id;
    uint64_t *value;
    uint8_t *len;
    uint32_t cap;
} column3;

/* Entry *n of the columns, where they hold it; *n counts on regardless. */
static void append(column3 c, size_t *n, uint32_t id, uint64_t value, uint8_t len) {
    if (*n < c.cap) {
        c.id[*n] = id;
        c.value[*n] = value;
        c.len[*n] = len;
    }
    (*n)++;
}

/* FieldMatch.Exact {bytes value = 1;} */
static int upd_exact(ctx *x, size_t start, size_t end, uint64_t *value, uint8_t *len) {
    static const uint8_t tags[] = {0x0a};
    rd r = {x->b, start, end};
    unsigned last = 0;
    field f;
    *value = 0;
    *len = 0;
    while (r.pos < r.end) {
        int rc = upd_field(&r, tags, sizeof tags, 0, &last, &f);
        if (rc == P_OK) rc = value_of(x->b, &f, value, len);
        if (rc != P_OK) return rc;
    }
    return P_OK;
}

/* FieldMatch {uint32 field_id = 1; oneof {Exact exact = 2; ...}} (is_match) or
 * Action.Param {uint32 param_id = 2; bytes value = 3;}: an id and a value, for
 * the matches' or the parameters' columns. A match without its Exact is slow. */
static int upd_id_value(ctx *x, size_t start, size_t end, int is_match) {
    static const uint8_t match_tags[] = {0x08, 0x12}, param_tags[] = {0x10, 0x1a};
    rd r = {x->b, start, end};
    unsigned last = 0, id_num = is_match ? 1 : 2;
    field f;
    uint32_t id = 0;
    uint64_t value = 0;
    uint8_t len = 0;
    int valued = !is_match, rc;
    while (r.pos < r.end) {
        rc = upd_field(&r, is_match ? match_tags : param_tags, 2, 0, &last, &f);
        if (rc != P_OK) return rc;
        if (f.num == id_num) {
            if (!u32_ok(f.v)) return P_SLOW;
            id = (uint32_t)f.v;
            continue;
        }
        rc = is_match ? upd_exact(x, f.start, f.end, &value, &len)
                      : value_of(x->b, &f, &value, &len);
        if (rc != P_OK) return rc;
        valued = 1;
    }
    if (!valued) return P_SLOW;
    fp_p4rt_cols *c = x->c;
    if (is_match) {
        column3 matches = {c->m_field, c->m_value, c->m_len, c->cap_matches};
        append(matches, &x->nm, id, value, len);
    } else {
        column3 params = {c->p_param, c->p_value, c->p_len, c->cap_params};
        append(params, &x->np, id, value, len);
    }
    return P_OK;
}

/* Action {uint32 action_id = 1; repeated Param params = 4;} */
static int upd_action(ctx *x, size_t start, size_t end) {
    static const uint8_t tags[] = {0x08, 0x22};
    rd r = {x->b, start, end};
    unsigned last = 0;
    field f;
    int rc;
    while (r.pos < r.end) {
        if ((rc = upd_field(&r, tags, sizeof tags, 1u << 4, &last, &f)) != P_OK) return rc;
        if (f.num == 1) {
            if (!u32_ok(f.v)) return P_SLOW;
            x->u.action = (uint32_t)f.v;
        } else if ((rc = upd_id_value(x, f.start, f.end, 0)) != P_OK) {
            return rc;
        }
    }
    return P_OK;
}

/* A message whose one field of the common case holds a message for `inner`:
 * TableAction {oneof type {Action action = 1; ...}} and Entity {oneof entity
 * {... TableEntry table_entry = 2; ...}}. *seen: whether it was there. */
static int upd_one_field(ctx *x, size_t start, size_t end, uint8_t tag,
                         int (*inner)(ctx *, size_t, size_t), int *seen) {
    rd r = {x->b, start, end};
    unsigned last = 0;
    field f;
    int rc;
    *seen = 0;
    while (r.pos < r.end) {
        if ((rc = upd_field(&r, &tag, 1, 0, &last, &f)) != P_OK) return rc;
        if ((rc = inner(x, f.start, f.end)) != P_OK) return rc;
        *seen = 1;
    }
    return P_OK;
}

/* TableEntry {uint32 table_id = 1; repeated FieldMatch match = 2; TableAction
 * action = 3; int32 priority = 4; bool is_default_action = 8; ...} */
static int upd_table_entry(ctx *x, size_t start, size_t end) {
    static const uint8_t tags[] = {0x08, 0x12, 0x1a, 0x20, 0x40};
    rd r = {x->b, start, end};
    unsigned last = 0;
    field f;
    int rc;
    while (r.pos < r.end) {
        if ((rc = upd_field(&r, tags, sizeof tags, 1u << 2, &last, &f)) != P_OK) return rc;
        switch (f.num) {
        case 1:
            if (!u32_ok(f.v)) return P_SLOW;
            x->u.table = (uint32_t)f.v;
            break;
        case 2:
            if ((rc = upd_id_value(x, f.start, f.end, 1)) != P_OK) return rc;
            break;
        case 3: { /* TableAction: empty, or a direct action */
            int direct;
            if ((rc = upd_one_field(x, f.start, f.end, 0x0a, upd_action, &direct)) != P_OK)
                return rc;
            if (direct) x->u.flags |= FP_U_ACTION;
            break;
        }
        case 4: { /* int32: protobuf keeps the low 32 bits, written back sign-extended */
            int32_t p = (int32_t)(uint32_t)(f.v & 0xffffffffu);
            if ((uint64_t)(int64_t)p != f.v) return P_SLOW;
            x->u.priority = p;
            break;
        }
        default: /* 8: bool, written as 1 */
            if (f.v != 1) return P_SLOW;
            x->u.flags |= FP_U_DEFAULT;
            break;
        }
    }
    return P_OK;
}

/* Update {Type type = 1; Entity entity = 2;} */
static int upd_update(ctx *x, size_t start, size_t end) {
    static const uint8_t tags[] = {0x08, 0x12};
    rd r = {x->b, start, end};
    unsigned last = 0;
    field f;
    int rc, seen = 0;
    while (r.pos < r.end) {
        if ((rc = upd_field(&r, tags, sizeof tags, 0, &last, &f)) != P_OK) return rc;
        if (f.num == 1) {
            if (f.v > 3) return P_SLOW; /* not a type: parse_update refuses it */
            x->u.type = (uint8_t)f.v;
        } else { /* an Entity: a table entry only */
            if ((rc = upd_one_field(x, f.start, f.end, 0x12, upd_table_entry, &seen)) != P_OK)
                return rc;
            if (!seen) return P_SLOW;
        }
    }
    return seen ? P_OK : P_SLOW;
}

/* ---- The request. ---- */

typedef struct totals {
    size_t nu, nslow;
} totals;

/* One update at buf[start .. end): decoded into the columns when it fits. */
static int one_update(ctx *x, totals *t, size_t start, size_t end, const fp_p4rt_schema *s) {
    fp_p4rt_cols *c = x->c;
    size_t nm0 = x->nm, np0 = x->np, i = t->nu++;
    memset(&x->u, 0, sizeof x->u);
    int rc = upd_update(x, start, end);
    if (rc == P_BAD) return P_BAD;
    if (rc == P_SLOW) {
        memset(&x->u, 0, sizeof x->u);
        x->nm = nm0;
        x->np = np0;
        t->nslow++;
    } else {
        x->u.flags |= FP_U_FAST;
    }
    if (i >= c->cap_updates) return P_OK;
    c->u_type[i] = x->u.type;
    c->u_flags[i] = x->u.flags;
    c->u_table[i] = x->u.table;
    c->u_priority[i] = x->u.priority;
    c->u_action[i] = x->u.action;
    c->u_match_first[i] = (uint32_t)nm0;
    c->u_match_count[i] = (uint32_t)(x->nm - nm0);
    c->u_param_first[i] = (uint32_t)np0;
    c->u_param_count[i] = (uint32_t)(x->np - np0);
    c->u_offset[i] = (uint32_t)start;
    c->u_length[i] = (uint32_t)(end - start);
    c->u_verdict[i] = FP_V_NONE;
    if (s != NULL && rc == P_OK && x->nm <= c->cap_matches && x->np <= c->cap_params)
        c->u_verdict[i] = fp_p4rt_verdict_of(s, c, i, (uint32_t)i + 1);
    return P_OK;
}

static int status_of(int rc) {
    return rc == P_BAD ? FP_E_MALFORMED : FP_E_UNSUPPORTED;
}

static int cols_ok(const fp_p4rt_cols *c, const fp_p4rt_schema *s) {
    if (c->cap_updates && (!c->u_type || !c->u_flags || !c->u_verdict || !c->u_table
                           || !c->u_priority || !c->u_match_first || !c->u_match_count
                           || !c->u_action || !c->u_param_first || !c->u_param_count
                           || !c->u_offset || !c->u_length))
        return 0;
    if (c->cap_matches && (!c->m_field || !c->m_value || !c->m_len)) return 0;
    if (c->cap_params && (!c->p_param || !c->p_value || !c->p_len)) return 0;
    return s == NULL || c->seen != NULL;
}

int fp_p4rt_decode(const uint8_t *buf, size_t len, const fp_p4rt_schema *schema,
                   fp_p4rt_cols *cols, fp_p4rt_request *req) {
    if (cols == NULL || req == NULL || (buf == NULL && len != 0)) return FP_E_NULL;
    if (!cols_ok(cols, schema)) return FP_E_NULL;
    if (len > 0xffffffffu) return FP_E_RANGE;
    if (schema != NULL) {
        if (fp_p4rt_schema_check(schema) != FP_OK) return FP_E_SCHEMA;
        if ((size_t)schema->nfields + schema->nparams > cols->cap_seen) return FP_E_RANGE;
        memset(cols->seen, 0, ((size_t)schema->nfields + schema->nparams) * sizeof *cols->seen);
    }
    memset(req, 0, sizeof *req);
    ctx x = {buf, cols, 0, 0, {0}};
    totals t = {0, 0};
    rd r = {buf, 0, len};
    while (r.pos < r.end) {
        uint64_t tag, v;
        size_t n, start, end;
        int rc = mirror_tag(&r, &tag, &n);
        if (rc != P_OK) return status_of(rc);
        switch (tag) {
        case 0x08: /* uint64 device_id = 1 */
        case 0x10: /* uint64 role_id = 2 */
        case 0x28: /* Atomicity atomicity = 5: an open enum, read as an int32 */
            if (!varint(&r, &v, &n)) return FP_E_MALFORMED;
            if (tag == 0x08) {
                req->device_id = v;
            } else if (tag == 0x10) {
                req->role_id = v;
            } else {
                req->atomicity = (int32_t)(uint32_t)(v & 0xffffffffu);
            }
            break;
        case 0x1a: /* Uint128 election_id = 3 */
            if ((rc = mirror_len(&r, &start, &end)) != P_OK) return status_of(rc);
            if ((rc = mirror_uint128(buf, start, end, req)) != P_OK) return status_of(rc);
            break;
        case 0x22: /* repeated Update updates = 4 */
            if ((rc = mirror_len(&r, &start, &end)) != P_OK) return status_of(rc);
            if (one_update(&x, &t, start, end, schema) != P_OK) return FP_E_MALFORMED;
            break;
        case 0x32: /* string role = 6 */
            if ((rc = mirror_len(&r, &start, &end)) != P_OK) return status_of(rc);
            if (!utf8_ok(buf + start, end - start)) return FP_E_MALFORMED;
            req->role_offset = (uint32_t)start;
            req->role_length = (uint32_t)(end - start);
            break;
        default:
            if ((rc = mirror_skip(&r, (unsigned)(tag & 7))) != P_OK) return status_of(rc);
            break;
        }
    }
    req->n_updates = (uint32_t)t.nu;
    req->n_matches = (uint32_t)x.nm;
    req->n_params = (uint32_t)x.np;
    req->n_slow = (uint32_t)t.nslow;
    if (t.nu > cols->cap_updates || x.nm > cols->cap_matches || x.np > cols->cap_params)
        return FP_E_CAPACITY;
    return FP_OK;
}
