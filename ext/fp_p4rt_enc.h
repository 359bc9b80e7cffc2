/* P4Runtime Write encoding: table entries given as plain ints -> the bytes of their
 * p4.v1.Update messages, each as a WriteRequest.updates field, one C call.
 *
 * fp_p4rt_encode() writes, for every update u in order, what protobuf serializes of
 *   WriteRequest { updates: Update { type, entity: Entity { table_entry: TableEntry {
 *     table_id, match: [FieldMatch { field_id, exact: { value } }...],
 *     action: TableAction { action: Action { action_id, params: [Param { param_id,
 *     value }...] } } } } } }
 * with only `updates` set (the field's tag and length included): known fields in
 * field-number order, no zero scalars, minimal varints, a submessage written even when
 * empty, values as the P4Runtime specification's canonical byte strings (the shortest
 * big-endian string, zero as one byte). The caller joins them between the bytes of a
 * WriteRequest's other fields; ctrl/p4rt/wire.py is the same in Python, and the tests
 * compare both with protobuf.
 *
 * An update's shape (u_shape[u], an index into `shapes`) gives its table and action
 * ids and its slots: match fields in field-id order, then parameters in id order,
 * each with its id and bit width, at slot_id / slot_bits[first .. first + nfields +
 * nparams). Its values are the next nfields + nparams of `values`, in that order.
 * u_type[u] is the update type, 1 (INSERT) to 3 (DELETE).
 *
 * Returns FP_ENC_OK and *len = the bytes written, or (out holds nothing to use):
 *   FP_ENC_E_NULL; FP_ENC_E_INPUT (a type not 1..3, a shape or slot out of the arrays,
 *   fewer values than the shapes ask for: *len = the update's index);
 *   FP_ENC_E_VALUE (a value does not fit its slot's bit width: *len = the update's
 *   index; the caller encodes that update some other way);
 *   FP_ENC_E_CAPACITY (out is too small: *len = the bytes needed).
 * It never writes outside out[0 .. cap), allocates nothing and keeps no state.
 */
#ifndef MOBILITY_FP_P4RT_ENC_H
#define MOBILITY_FP_P4RT_ENC_H

#include <stddef.h>
#include <stdint.h>

/* cdef-begin: from here to cdef-end, ext/build_fastpath.py hands the text to cffi. */

enum fp_p4rt_enc_status {
    FP_ENC_OK = 0,
    FP_ENC_E_NULL = 1,
    FP_ENC_E_INPUT = 2,
    FP_ENC_E_VALUE = 3,
    FP_ENC_E_CAPACITY = 4
};

typedef struct {
    uint32_t table_id;
    uint32_t action_id;
    uint32_t first;      /* its slots: slot_id[first ..], slot_bits[first ..] */
    uint32_t nfields;
    uint32_t nparams;
} fp_p4rt_shape;

int fp_p4rt_encode(const fp_p4rt_shape *shapes, size_t nshapes,
                   const uint32_t *slot_id, const uint32_t *slot_bits, size_t nslots,
                   const uint8_t *u_type, const uint32_t *u_shape, size_t nupdates,
                   const uint64_t *values, size_t nvalues,
                   uint8_t *out, size_t cap, size_t *len);

/* cdef-end */

#endif
