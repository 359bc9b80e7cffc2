/* Placement costs: the traffic-weighted distance from candidate nodes to each VM's
 * clients, for many VMs in one call.
 *
 * dist is an n x n distance table (dist[u * n + v]: links from u to v, FP_INF where
 * there is no path; ctrl/placement/fabric.py makes it from the path engine's all-pairs
 * table). VM i's demand is the nodes nodes[off[i] .. off[i+1]) with weights w[..]
 * (traffic entering the network there toward the VM); its cost at node k is
 *     sum over its demand of w * dist[node * n + k]
 * and +infinity where a node with a weight > 0 has no path to k.
 *
 * fp_place_costs: the cost of every VM at every candidate cand[j], into
 * out[i * nc + j].
 * fp_place_best: for every VM the candidate of least cost among those allowed
 * (allowed[j] != 0; NULL: all): best[i] = j, the lowest j among equals, and
 * best_cost[i]; FP_NONE and +infinity where no allowed candidate has a finite cost;
 * cur_cost[i] is its cost at node cur[i] (+infinity where cur[i] is FP_INF: nowhere).
 * out (nv * nc, may be NULL) gets every cost as fp_place_costs gives it; work holds
 * (n + 1) * nc doubles: the candidates' columns of dist as doubles, node by node, made
 * once a call, so that each VM's row is a sum of contiguous vectors (vectorized).
 *
 * Weights are finite and >= 0. FP_E_NULL for a missing array, FP_E_RANGE (fp_parse.h)
 * before writing anything when a node, candidate or current node is >= n, off does not
 * start at 0 or decreases, or a weight is not finite and >= 0.
 * ctrl/fastpath/place_ref.py is the same in Python.
 */
#ifndef MOBILITY_FP_PLACE_H
#define MOBILITY_FP_PLACE_H

#include <stdint.h>

/* cdef-begin */

#define FP_NONE 0xFFFFFFFF

int fp_place_costs(const uint32_t *dist, uint32_t n, const uint32_t *cand, uint32_t nc,
                   const uint32_t *off, uint32_t nv, const uint32_t *nodes, const double *w,
                   double *out);

int fp_place_best(const uint32_t *dist, uint32_t n, const uint32_t *cand, uint32_t nc,
                  const uint8_t *allowed, const uint32_t *off, uint32_t nv,
                  const uint32_t *nodes, const double *w, const uint32_t *cur,
                  uint32_t *best, double *best_cost, double *cur_cost, double *out,
                  double *work);

/* cdef-end */

#endif
