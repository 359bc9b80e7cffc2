/* P4Runtime Write encoding: see fp_p4rt_enc.h. */
#include "fp_p4rt_enc.h"

/* Field tags (field number << 3 | wire type) of p4runtime.proto v1. */
enum {
    TAG_WRITE_UPDATES = 0x22,   /* WriteRequest.updates = 4 */
    TAG_UPDATE_TYPE = 0x08,     /* Update.type = 1 */
    TAG_UPDATE_ENTITY = 0x12,   /* Update.entity = 2 */
    TAG_ENTITY_TABLE = 0x12,    /* Entity.table_entry = 2 */
    TAG_TABLE_ID = 0x08,        /* TableEntry.table_id = 1 */
    TAG_TABLE_MATCH = 0x12,     /* TableEntry.match = 2 */
    TAG_TABLE_ACTION = 0x1a,    /* TableEntry.action = 3 */
    TAG_FIELD_ID = 0x08,        /* FieldMatch.field_id = 1 */
    TAG_FIELD_EXACT = 0x12,     /* FieldMatch.exact = 2 */
    TAG_EXACT_VALUE = 0x0a,     /* FieldMatch.Exact.value = 1 */
    TAG_TABLE_ACTION_ACTION = 0x0a,  /* TableAction.action = 1 */
    TAG_ACTION_ID = 0x08,       /* Action.action_id = 1 */
    TAG_ACTION_PARAMS = 0x22,   /* Action.params = 4 */
    TAG_PARAM_ID = 0x10,        /* Action.Param.param_id = 2 */
    TAG_PARAM_VALUE = 0x1a      /* Action.Param.value = 3 */
};

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Bytes of a value's canonical string: the shortest big-endian, zero as one byte. */
static size_t value_len(uint64_t v)
{
    size_t n = 1;
    while (n < 8 && (v >> (8 * n)) != 0)
        n++;
    return n;
}

static uint8_t *put_value(uint8_t *p, uint64_t v, size_t n)
{
    while (n-- > 0)
        *p++ = (uint8_t)(v >> (8 * n));
    return p;
}

/* A length-delimited field of `body` bytes, tag and length included. */
static size_t field_len(size_t body)
{
    return 1 + varint_len(body) + body;
}

/* A uint32 scalar field: nothing when zero. */
static size_t scalar_len(uint32_t v)
{
    return v ? 1 + varint_len(v) : 0;
}

static uint8_t *put_scalar(uint8_t *p, uint8_t tag, uint32_t v)
{
    if (v) {
        *p++ = tag;
        p = put_varint(p, v);
    }
    return p;
}

static uint8_t *put_head(uint8_t *p, uint8_t tag, size_t body)
{
    *p++ = tag;
    return put_varint(p, body);
}

/* Sizes of one update's nested messages, innermost first. */
typedef struct {
    size_t match;        /* every TableEntry.match field, tags included */
    size_t params;       /* every Action.params field, tags included */
    size_t action;       /* Action */
    size_t table_action; /* TableAction */
    size_t entry;        /* TableEntry */
    size_t entity;       /* Entity */
    size_t update;       /* Update */
} sizes;

static size_t field_match_len(uint32_t id, uint64_t v)
{
    return scalar_len(id) + field_len(field_len(value_len(v)));
}

static size_t param_len(uint32_t id, uint64_t v)
{
    return scalar_len(id) + field_len(value_len(v));
}

/* Checks one update and sizes it; FP_ENC_OK or FP_ENC_E_VALUE. */
static int measure(const fp_p4rt_shape *sh, const uint32_t *slot_id,
                   const uint32_t *slot_bits, const uint64_t *v, sizes *s)
{
    uint32_t nslots = sh->nfields + sh->nparams;
    s->match = s->params = 0;
    for (uint32_t i = 0; i < nslots; i++) {
        uint32_t bits = slot_bits[sh->first + i];
        if (bits < 64 && (v[i] >> bits) != 0)
            return FP_ENC_E_VALUE;
        uint32_t id = slot_id[sh->first + i];
        if (i < sh->nfields)
            s->match += field_len(field_match_len(id, v[i]));
        else
            s->params += field_len(param_len(id, v[i]));
    }
    s->action = scalar_len(sh->action_id) + s->params;
    s->table_action = field_len(s->action);
    s->entry = scalar_len(sh->table_id) + s->match + field_len(s->table_action);
    s->entity = field_len(s->entry);
    s->update = 2 + field_len(s->entity);
    return FP_ENC_OK;
}

static uint8_t *emit(uint8_t *p, uint8_t type, const fp_p4rt_shape *sh,
                     const uint32_t *slot_id, const uint64_t *v, const sizes *s)
{
    p = put_head(p, TAG_WRITE_UPDATES, s->update);
    *p++ = TAG_UPDATE_TYPE;
    *p++ = type;
    p = put_head(p, TAG_UPDATE_ENTITY, s->entity);
    p = put_head(p, TAG_ENTITY_TABLE, s->entry);
    p = put_scalar(p, TAG_TABLE_ID, sh->table_id);
    for (uint32_t i = 0; i < sh->nfields; i++) {
        uint32_t id = slot_id[sh->first + i];
        size_t n = value_len(v[i]);
        p = put_head(p, TAG_TABLE_MATCH, field_match_len(id, v[i]));
        p = put_scalar(p, TAG_FIELD_ID, id);
        p = put_head(p, TAG_FIELD_EXACT, field_len(n));
        p = put_head(p, TAG_EXACT_VALUE, n);
        p = put_value(p, v[i], n);
    }
    p = put_head(p, TAG_TABLE_ACTION, s->table_action);
    p = put_head(p, TAG_TABLE_ACTION_ACTION, s->action);
    p = put_scalar(p, TAG_ACTION_ID, sh->action_id);
    for (uint32_t i = sh->nfields; i < sh->nfields + sh->nparams; i++) {
        uint32_t id = slot_id[sh->first + i];
        size_t n = value_len(v[i]);
        p = put_head(p, TAG_ACTION_PARAMS, param_len(id, v[i]));
        p = put_scalar(p, TAG_PARAM_ID, id);
        p = put_head(p, TAG_PARAM_VALUE, n);
        p = put_value(p, v[i], n);
    }
    return p;
}

/* The shape of update u, checked against the arrays; NULL when it is out of them. */
static const fp_p4rt_shape *shape_of(const fp_p4rt_shape *shapes, size_t nshapes,
                                     size_t nslots, uint8_t type, uint32_t index,
                                     size_t value_at, size_t nvalues)
{
    if (type < 1 || type > 3 || index >= nshapes)
        return NULL;
    const fp_p4rt_shape *sh = &shapes[index];
    uint64_t n = (uint64_t)sh->nfields + sh->nparams;
    if ((uint64_t)sh->first + n > nslots || n > nvalues - value_at)
        return NULL;
    return sh;
}

int fp_p4rt_encode(const fp_p4rt_shape *shapes, size_t nshapes,
                   const uint32_t *slot_id, const uint32_t *slot_bits, size_t nslots,
                   const uint8_t *u_type, const uint32_t *u_shape, size_t nupdates,
                   const uint64_t *values, size_t nvalues,
                   uint8_t *out, size_t cap, size_t *len)
{
    if (len == NULL)
        return FP_ENC_E_NULL;
    *len = 0;
    if (nupdates > 0 && (shapes == NULL || u_type == NULL || u_shape == NULL))
        return FP_ENC_E_NULL;
    if ((nslots > 0 && (slot_id == NULL || slot_bits == NULL))
            || (nvalues > 0 && values == NULL) || (cap > 0 && out == NULL))
        return FP_ENC_E_NULL;
    /* First pass: every update checked and sized. */
    size_t total = 0, at = 0;
    sizes s;
    for (size_t u = 0; u < nupdates; u++) {
        const fp_p4rt_shape *sh = shape_of(shapes, nshapes, nslots, u_type[u], u_shape[u],
                                           at, nvalues);
        if (sh == NULL) {
            *len = u;
            return FP_ENC_E_INPUT;
        }
        if (measure(sh, slot_id, slot_bits, values + at, &s) != FP_ENC_OK) {
            *len = u;
            return FP_ENC_E_VALUE;
        }
        total += field_len(s.update);
        at += sh->nfields + sh->nparams;
    }
    if (total > cap) {
        *len = total;
        return FP_ENC_E_CAPACITY;
    }
    /* Second pass: written, within the total just checked. */
    uint8_t *p = out;
    at = 0;
    for (size_t u = 0; u < nupdates; u++) {
        const fp_p4rt_shape *sh = &shapes[u_shape[u]];
        measure(sh, slot_id, slot_bits, values + at, &s);
        p = emit(p, u_type[u], sh, slot_id, values + at, &s);
        at += sh->nfields + sh->nparams;
    }
    *len = (size_t)(p - out);
    return FP_ENC_OK;
}
