/* Placement costs: see fp_place.h. */
#include "fp_place.h"

#include <math.h>

#include "fp_parse.h"
#include "fp_paths.h"

int fp_place_costs(const uint32_t *dist, uint32_t n, const uint32_t *cand, uint32_t nc,
                   const uint32_t *off, uint32_t nv, const uint32_t *nodes, const double *w,
                   double *out)
{
    if (!dist || !cand || !off || !out || (nv && off[nv] && (!nodes || !w)))
        return FP_E_NULL;
    if (off[0] != 0)
        return FP_E_RANGE;
    for (uint32_t j = 0; j < nc; j++)
        if (cand[j] >= n)
            return FP_E_RANGE;
    for (uint32_t i = 0; i < nv; i++) {
        if (off[i + 1] < off[i])
            return FP_E_RANGE;
        for (uint32_t c = off[i]; c < off[i + 1]; c++)
            if (nodes[c] >= n || !(w[c] >= 0.0) || !isfinite(w[c]))
                return FP_E_RANGE;
    }
    for (uint32_t i = 0; i < nv; i++) {
        double *row_out = out + (uint64_t)i * nc;
        for (uint32_t j = 0; j < nc; j++)
            row_out[j] = 0.0;
        for (uint32_t c = off[i]; c < off[i + 1]; c++) {
            const double weight = w[c];
            if (weight == 0.0)
                continue;
            const uint32_t *row = dist + (uint64_t)nodes[c] * n;
            for (uint32_t j = 0; j < nc; j++) {
                const uint32_t d = row[cand[j]];
                row_out[j] += d == FP_INF ? INFINITY : weight * (double)d;
            }
        }
    }
    return FP_OK;
}
