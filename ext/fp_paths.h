/* Path engine: next hops toward destinations on the switch graph.
 *
 * The graph is undirected: nodes 0..n-1, links 0..nlinks-1, each link two arcs
 * (one per direction) of the same weight. It is held in compact (CSR) arrays
 * that the caller owns: the arcs leaving node u are row[u] .. row[u+1]-1.
 * fp_graph_build() makes those arrays from the links' end points.
 *
 * For a destination d, dist[u] is the length of a shortest path from u to d
 * over links that are up (FP_INF: none), by hop count or by link weight, and
 * the next-hop set of u is every up arc u->v with dist[v] + w(u,v) == dist[u]:
 * equal-cost next hops, kept as one bit per arc (fp_nh_words() 64-bit words per
 * destination). Hop counts use breadth-first search (up to 64 destinations in
 * one pass over the graph, a bit each per node), weights Dijkstra with a
 * binary heap.
 *
 * A route table holds dist and next hops for a list of destinations (all pairs
 * when that list is every node): dist[k * n + u], nh[k * words ..] for dests[k].
 * fp_routes_set_link() takes a link down or up and repairs only the
 * destinations it affects: a destination none of whose shortest paths used a
 * failed link is untouched, one that keeps an equal-cost alternative only loses
 * the arc's bit, one that gains an equal-cost arc only gains its bit, and the
 * others are recomputed (together, 64 at a time by hop count). It reports
 * which destinations changed.
 *
 * No call allocates: the work arrays are the caller's, FP_WORK_PER_NODE * n
 * 32-bit words, 8-byte aligned. All calls return FP_OK or a negative FP_E_*
 * code (fp_parse.h), before writing anything when arguments are out of range. ctrl/fastpath/paths_ref.py is the same
 * engine in Python and gives identical arrays.
 */
#ifndef MOBILITY_FP_PATHS_H
#define MOBILITY_FP_PATHS_H

#include <stddef.h>
#include <stdint.h>

/* cdef-begin */

#define FP_INF 0xFFFFFFFF
#define FP_WORK_PER_NODE 6  /* uint32_t words of work per node */

typedef struct fp_graph {
    uint32_t n;                 /* nodes */
    uint32_t nlinks;            /* links; arcs = 2 * nlinks */
    const uint32_t *row;        /* n + 1 */
    const uint32_t *head;       /* per arc: the node it leads to */
    const uint32_t *arc_link;   /* per arc: its link */
    const uint32_t *link_arcs;  /* per link l: [2l] leaves ends[2l], [2l+1] leaves ends[2l+1] */
    const uint32_t *weight;     /* per link, >= 1; NULL: hop count */
    uint8_t *up;                /* per link: 1 up, 0 down; NULL: all up (not for set_link) */
} fp_graph;

/* 64-bit words of one destination's next-hop bitset. */
size_t fp_nh_words(uint32_t nlinks);

/* CSR arrays from the links' end points (ends[2l], ends[2l+1]); arcs of a node
 * keep the order of their links. row: n + 1, head and arc_link: 2 * nlinks,
 * link_arcs: 2 * nlinks. FP_E_RANGE for an end >= n, FP_E_GRAPH for a self loop. */
int fp_graph_build(uint32_t n, uint32_t nlinks, const uint32_t *ends, uint32_t *row,
                   uint32_t *head, uint32_t *arc_link, uint32_t *link_arcs);

/* Checks a graph's arrays (what fp_graph_build makes, weights >= 1 and their sum
 * below FP_INF, up flags 0 or 1); FP_OK or FP_E_GRAPH. */
int fp_graph_check(const fp_graph *g);

/* Distances and next hops toward one destination. dist: n, nh: fp_nh_words(). */
int fp_tree(const fp_graph *g, uint32_t dest, uint32_t *dist, uint64_t *nh, uint32_t *work);

/* fp_tree() for each of dests[0 .. nd); by hop count 64 destinations at a time
 * share one breadth-first search (a bit each per node). */
int fp_routes_compute(const fp_graph *g, const uint32_t *dests, uint32_t nd, uint32_t *dist,
                      uint64_t *nh, uint32_t *work);

/* Sets link `link` up (1) or down (0) in g->up (which must not be NULL) and
 * repairs the table of dests; changed[0 .. *nchanged) gets, in increasing order,
 * the indexes k of the destinations whose distances or next hops changed
 * (changed: nd entries, nd < 2^31). FP_E_STATE if the link already was so. */
int fp_routes_set_link(fp_graph *g, uint32_t link, uint8_t up, const uint32_t *dests,
                       uint32_t nd, uint32_t *dist, uint64_t *nh, uint32_t *work,
                       uint32_t *changed, uint32_t *nchanged);

/* cdef-end */

#endif
