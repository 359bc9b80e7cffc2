/* Placement costs: the traffic-weighted distance from candidate nodes to each VM's
 * clients, for many VMs in one call.
 *
 * dist is an all-pairs distance table of an n-node graph as fp_routes_compute()
 * fills it for dests 0 .. n-1 (dist[k * n + u]: from u to k; the graph is undirected,
 * so it is also from k to u), FP_INF where there is no path. VM i's demand is the
 * nodes nodes[off[i] .. off[i+1]) with weights w[..] (traffic entering the network
 * there toward the VM); for each candidate node cand[j]:
 *     out[i * nc + j] = sum over its demand of w * dist[node * n + cand[j]]
 * and +infinity where a node with a weight > 0 has no path to the candidate.
 * Weights are finite and >= 0. FP_E_RANGE (fp_parse.h) before writing anything when a
 * node or candidate is >= n, off does not start at 0 or decreases, or a weight is not
 * finite and >= 0. ctrl/fastpath/place_ref.py is the same in Python.
 */
#ifndef MOBILITY_FP_PLACE_H
#define MOBILITY_FP_PLACE_H

#include <stdint.h>

/* cdef-begin */

int fp_place_costs(const uint32_t *dist, uint32_t n, const uint32_t *cand, uint32_t nc,
                   const uint32_t *off, uint32_t nv, const uint32_t *nodes, const double *w,
                   double *out);

/* cdef-end */

#endif
