/* The schema side of fp_p4rt.h: what parse_update() of ctrl/ovs/validate.py
 * would say of one fast update. Internal to fp_p4rt.c; not handed to cffi. */
#ifndef MOBILITY_FP_P4RT_CHECK_H
#define MOBILITY_FP_P4RT_CHECK_H

#include <stdint.h>

#include "fp_p4rt.h"

/* The verdict (FP_V_*) of update u, whose columns and matches and parameters
 * are in c; s passed fp_p4rt_schema_check(), and c->seen holds nfields +
 * nparams stamps that were never `stamp` before. */
uint8_t fp_p4rt_verdict_of(const fp_p4rt_schema *s, fp_p4rt_cols *c, size_t u, uint32_t stamp);

#endif
