/* P4Runtime Write decoding: a serialized p4.v1.WriteRequest -> columns, one C call.
 *
 * fp_p4rt_decode() reads the protobuf wire format of a WriteRequest. The
 * request's own fields (device_id, role_id, role, election_id, atomicity) are
 * read exactly as protobuf's parser (upb, protobuf 6) reads them: the last value
 * wins, election_ids given twice merge, unknown fields and fields of the wrong
 * wire type are skipped, enums are int32s (atomicity 7 stays 7), a tag is a
 * varint of at most 5 bytes and 32 bits (a padded one names its field). Each update is
 *   - fast: an exact-match TableEntry with a direct action (or none), in
 *     protobuf's own canonical encoding (fields in field-number order, no zero
 *     scalars, minimal varints, no unknown fields), match and parameter values
 *     of 1 to 8 bytes; its columns are filled in and, given a schema, its
 *     verdict; or
 *   - slow: anything else (another entity, a ternary / lpm / range / optional
 *     match, an action profile, counter_data, meter_config, metadata, an idle
 *     timeout, unknown or repeated fields, a wrong wire type, an update type
 *     other than 0..3, a value longer than 8 bytes). Its columns stay zero; the
 *     caller parses buf[u_offset .. + u_length) as one p4.v1.Update with
 *     protobuf. The canonical rule is what lets a reference built on protobuf
 *     (which re-encodes the update and compares) tell fast from slow the same.
 * The verdict of a fast update is the first check of ctrl/ovs/validate.py's
 * parse_update() that fails, as an FP_V_* reason (FP_V_OK when none does); its
 * google.rpc code is INVALID_ARGUMENT but for FP_V_*_TOO_WIDE (OUT_OF_RANGE) and
 * FP_V_CONST_DEFAULT (PERMISSION_DENIED).
 *
 * Columns: update u's matches are m_*[u_match_first[u] .. + u_match_count[u]),
 * its parameters p_*[u_param_first[u] .. + u_param_count[u]), in wire order.
 * Values are big-endian byte strings read as unsigned integers, with their length.
 *
 * Returns FP_OK, or (before or after writing columns):
 *   FP_E_NULL; FP_E_RANGE (more than 4 GiB of input, or cap_seen below the
 *   schema's nfields + nparams); FP_E_SCHEMA (the schema's arrays do not hold
 *   together); FP_E_MALFORMED (bytes that protobuf's parser refuses too:
 *   truncated, a varint over 10 bytes, field number 0, wire type 4, 6 or 7, a
 *   role that is not UTF-8); FP_E_UNSUPPORTED (a group outside the updates:
 *   protobuf may take it, this decoder does not); FP_E_CAPACITY (more updates,
 *   matches or parameters than the arrays hold: n_* say how many).
 * It never reads outside buf[0 .. len), allocates nothing, nests seven messages
 * deep at most (WriteRequest down to Param), and keeps no state between calls.
 * ctrl/fastpath/p4rt_ref.py is the same decoder on protobuf's classes;
 * ext/fuzz/fuzz_p4rt.c fuzzes this one.
 */
#ifndef MOBILITY_FP_P4RT_H
#define MOBILITY_FP_P4RT_H

#include <stddef.h>
#include <stdint.h>

/* cdef-begin: from here to cdef-end, ext/build_fastpath.py hands the text to cffi. */

#define FP_P4RT_VALUE_MAX 8  /* longer match / parameter values make an update slow */

/* Bits of u_flags. */
enum fp_p4rt_flag {
    FP_U_FAST = 0x01,     /* decoded here: the columns hold the update */
    FP_U_DEFAULT = 0x02,  /* is_default_action */
    FP_U_ACTION = 0x04    /* TableEntry.action holds a direct action (u_action) */
};

/* Why parse_update() refuses a fast update, in the order it checks. */
enum fp_p4rt_verdict {
    FP_V_OK = 0,
    FP_V_BAD_TYPE = 1,             /* update type unspecified */
    FP_V_UNKNOWN_TABLE = 2,
    FP_V_DEFAULT_NOT_MODIFY = 3,   /* a default entry can only be modified */
    FP_V_DEFAULT_HAS_MATCH = 4,
    FP_V_CONST_DEFAULT = 5,        /* PERMISSION_DENIED */
    FP_V_PRIORITY = 6,             /* a priority on an exact-match table */
    FP_V_UNKNOWN_FIELD = 7,
    FP_V_DUPLICATE_FIELD = 8,
    FP_V_NOT_EXACT = 9,            /* the table's field is not an exact match */
    FP_V_EMPTY_VALUE = 10,
    FP_V_FIELD_TOO_WIDE = 11,      /* OUT_OF_RANGE */
    FP_V_MISSING_FIELD = 12,
    FP_V_NO_ACTION = 13,           /* no action, and not a DELETE */
    FP_V_UNKNOWN_ACTION = 14,
    FP_V_ACTION_NOT_IN_TABLE = 15,
    FP_V_DEFAULT_ONLY_ACTION = 16, /* a default-only action in an entry */
    FP_V_UNKNOWN_PARAM = 17,
    FP_V_DUPLICATE_PARAM = 18,
    FP_V_EMPTY_PARAM = 19,
    FP_V_PARAM_TOO_WIDE = 20,      /* OUT_OF_RANGE */
    FP_V_MISSING_PARAM = 21,
    FP_V_NONE = 255                /* no verdict: a slow update, or no schema given */
};

/* Bits of table_flags, field_flags, ref_flags. */
enum fp_p4rt_schema_flag {
    FP_T_CONST_DEFAULT = 0x01,  /* table: its default action is const */
    FP_F_EXACT = 0x01,          /* match field: an exact match */
    FP_R_DEFAULT_ONLY = 0x01    /* action ref: only for the default entry */
};

/* A P4Info in compact arrays (ctrl/fastpath/p4rt_schema.py makes them). Table t's
 * match fields are field_*[table_field_first[t] .. table_field_first[t + 1]), its
 * actions ref_*[table_ref_first[t] .. table_ref_first[t + 1]) (ref_action: an index
 * into action_*); action a's parameters param_*[action_param_first[a] .. [a + 1]).
 * table_id and action_id strictly increase. */
typedef struct fp_p4rt_schema {
    uint32_t ntables;
    const uint32_t *table_id;           /* ntables */
    const uint8_t *table_flags;         /* ntables */
    const uint32_t *table_field_first;  /* ntables + 1 */
    const uint32_t *table_ref_first;    /* ntables + 1 */
    uint32_t nfields;
    const uint32_t *field_id;
    const uint32_t *field_bits;
    const uint8_t *field_flags;
    uint32_t nrefs;
    const uint32_t *ref_action;
    const uint8_t *ref_flags;
    uint32_t nactions;
    const uint32_t *action_id;
    const uint32_t *action_param_first; /* nactions + 1 */
    uint32_t nparams;
    const uint32_t *param_id;
    const uint32_t *param_bits;
} fp_p4rt_schema;

/* The caller's arrays and how many entries each holds. */
typedef struct fp_p4rt_cols {
    uint32_t cap_updates, cap_matches, cap_params;
    uint32_t cap_seen;          /* seen: >= nfields + nparams of the schema (work) */
    uint8_t *u_type;            /* 1 INSERT, 2 MODIFY, 3 DELETE, 0 absent (or slow) */
    uint8_t *u_flags;           /* FP_U_* */
    uint8_t *u_verdict;         /* FP_V_* */
    uint32_t *u_table;
    int32_t *u_priority;
    uint32_t *u_match_first;
    uint32_t *u_match_count;
    uint32_t *u_action;         /* 0 without FP_U_ACTION */
    uint32_t *u_param_first;
    uint32_t *u_param_count;
    uint32_t *u_offset;         /* the Update message: buf[u_offset .. + u_length) */
    uint32_t *u_length;
    uint32_t *m_field;
    uint64_t *m_value;
    uint8_t *m_len;             /* 0 .. FP_P4RT_VALUE_MAX bytes */
    uint32_t *p_param;
    uint64_t *p_value;
    uint8_t *p_len;
    uint32_t *seen;
} fp_p4rt_cols;

/* The request's own fields, and how much was decoded. */
typedef struct fp_p4rt_request {
    uint64_t device_id;
    uint64_t role_id;
    uint64_t election_high;
    uint64_t election_low;
    uint32_t role_offset;       /* role: buf[role_offset .. + role_length), UTF-8 */
    uint32_t role_length;
    int32_t atomicity;          /* 0 CONTINUE_ON_ERROR, 1 ROLLBACK_ON_ERROR, 2 DATAPLANE_ATOMIC,
                                   or any other int32 the client sent */
    uint8_t has_election_id;
    uint8_t _pad[3];
    uint32_t n_updates;
    uint32_t n_matches;
    uint32_t n_params;
    uint32_t n_slow;
} fp_p4rt_request;

/* FP_OK when the schema's arrays hold together (see fp_p4rt_schema), else FP_E_SCHEMA. */
int fp_p4rt_schema_check(const fp_p4rt_schema *s);

/* Decodes buf[0 .. len) into *req and the columns of *cols; schema NULL: no
 * verdicts (FP_V_NONE), and `seen` may be NULL. */
int fp_p4rt_decode(const uint8_t *buf, size_t len, const fp_p4rt_schema *schema,
                   fp_p4rt_cols *cols, fp_p4rt_request *req);

/* cdef-end */

#endif
