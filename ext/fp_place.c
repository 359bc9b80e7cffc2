/* Placement costs: see fp_place.h. */
#include "fp_place.h"

#include <math.h>

#include "fp_parse.h"
#include "fp_paths.h"

static int check(uint32_t n, const uint32_t *cand, uint32_t nc, const uint32_t *off,
                 uint32_t nv, const uint32_t *nodes, const double *w)
{
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
    return FP_OK;
}

/* VM i's cost at each candidate into row[0 .. nc). */
static void row_costs(const uint32_t *dist, uint32_t n, const uint32_t *cand, uint32_t nc,
                      uint32_t from, uint32_t to, const uint32_t *nodes, const double *w,
                      double *row)
{
    for (uint32_t j = 0; j < nc; j++)
        row[j] = 0.0;
    for (uint32_t c = from; c < to; c++) {
        const double weight = w[c];
        if (weight == 0.0)
            continue;
        const uint32_t *d = dist + (uint64_t)nodes[c] * n;
        for (uint32_t j = 0; j < nc; j++) {
            const uint32_t links = d[cand[j]];
            row[j] += links == FP_INF ? INFINITY : weight * (double)links;
        }
    }
}

int fp_place_costs(const uint32_t *dist, uint32_t n, const uint32_t *cand, uint32_t nc,
                   const uint32_t *off, uint32_t nv, const uint32_t *nodes, const double *w,
                   double *out)
{
    if (!dist || (nc && !cand) || !off || !out || (nv && off[nv] && (!nodes || !w)))
        return FP_E_NULL;
    int rc = check(n, cand, nc, off, nv, nodes, w);
    if (rc != FP_OK)
        return rc;
    for (uint32_t i = 0; i < nv; i++)
        row_costs(dist, n, cand, nc, off[i], off[i + 1], nodes, w, out + (uint64_t)i * nc);
    return FP_OK;
}

/* cols[u * nc + j] = dist[u * n + cand[j]] as a double (+infinity for FP_INF). */
static void gather(const uint32_t *dist, uint32_t n, const uint32_t *cand, uint32_t nc,
                   double *cols)
{
    for (uint32_t u = 0; u < n; u++) {
        const uint32_t *d = dist + (uint64_t)u * n;
        double *c = cols + (uint64_t)u * nc;
        for (uint32_t j = 0; j < nc; j++)
            c[j] = d[cand[j]] == FP_INF ? INFINITY : (double)d[cand[j]];
    }
}

int fp_place_best(const uint32_t *dist, uint32_t n, const uint32_t *cand, uint32_t nc,
                  const uint8_t *allowed, const uint32_t *off, uint32_t nv,
                  const uint32_t *nodes, const double *w, const uint32_t *cur,
                  uint32_t *best, double *best_cost, double *cur_cost, double *out,
                  double *work)
{
    if (!dist || (nc && (!cand || !work)) || !off || (nv && (!cur || !best || !best_cost
                                                             || !cur_cost))
        || (nv && off[nv] && (!nodes || !w)))
        return FP_E_NULL;
    int rc = check(n, cand, nc, off, nv, nodes, w);
    if (rc != FP_OK)
        return rc;
    for (uint32_t i = 0; i < nv; i++)
        if (cur[i] != FP_INF && cur[i] >= n)
            return FP_E_RANGE;
    double *cols = work + nc;
    gather(dist, n, cand, nc, cols);
    for (uint32_t i = 0; i < nv; i++) {
        double *restrict row = out ? out + (uint64_t)i * nc : work;
        for (uint32_t j = 0; j < nc; j++)
            row[j] = 0.0;
        for (uint32_t c = off[i]; c < off[i + 1]; c++) {
            const double weight = w[c];
            if (weight == 0.0)
                continue;   /* 0 x infinity: no traffic, no cost */
            const double *restrict col = cols + (uint64_t)nodes[c] * nc;
            for (uint32_t j = 0; j < nc; j++)
                row[j] += weight * col[j];
        }
        uint32_t pick = FP_NONE;
        double least = INFINITY;
        for (uint32_t j = 0; j < nc; j++)
            if ((!allowed || allowed[j]) && row[j] < least) {
                least = row[j];
                pick = j;
            }
        best[i] = pick;
        best_cost[i] = least;
        double here = 0.0;
        if (cur[i] == FP_INF) {
            here = INFINITY;
        } else {
            for (uint32_t c = off[i]; c < off[i + 1]; c++) {
                if (w[c] == 0.0)
                    continue;
                const uint32_t links = dist[(uint64_t)nodes[c] * n + cur[i]];
                here += links == FP_INF ? INFINITY : w[c] * (double)links;
            }
        }
        cur_cost[i] = here;
    }
    return FP_OK;
}
