/* Path engine; see fp_paths.h for the contract. */
#include "fp_paths.h"

#include "fp_parse.h" /* FP_OK, FP_E_* */

#include <string.h>

size_t fp_nh_words(uint32_t nlinks) { return ((size_t)nlinks * 2 + 63) / 64; }

static inline int bit_get(const uint64_t *bits, uint32_t i) {
    return (int)((bits[i >> 6] >> (i & 63)) & 1u);
}

static inline void bit_set(uint64_t *bits, uint32_t i) { bits[i >> 6] |= (uint64_t)1 << (i & 63); }

static inline void bits_or(uint64_t *bits, uint32_t i, uint64_t value) {
    bits[i >> 6] |= value << (i & 63);
}

static inline void bit_clear(uint64_t *bits, uint32_t i) {
    bits[i >> 6] &= ~((uint64_t)1 << (i & 63));
}

static inline uint32_t weight_of(const fp_graph *g, uint32_t link) {
    return g->weight ? g->weight[link] : 1u;
}

int fp_graph_build(uint32_t n, uint32_t nlinks, const uint32_t *ends, uint32_t *row,
                   uint32_t *head, uint32_t *arc_link, uint32_t *link_arcs) {
    if (row == NULL || (nlinks > 0 && (ends == NULL || head == NULL || arc_link == NULL
                                       || link_arcs == NULL)))
        return FP_E_NULL;
    if (nlinks > UINT32_MAX / 2) return FP_E_RANGE;
    for (uint32_t l = 0; l < nlinks; l++) {
        if (ends[2 * l] >= n || ends[2 * l + 1] >= n) return FP_E_RANGE;
        if (ends[2 * l] == ends[2 * l + 1]) return FP_E_GRAPH;
    }
    /* Counting sort of the arcs by the node they leave, stable in link order. */
    memset(row, 0, ((size_t)n + 1) * sizeof *row);
    for (uint32_t a = 0; a < 2 * nlinks; a++) row[ends[a] + 1]++;
    for (uint32_t u = 0; u < n; u++) row[u + 1] += row[u];
    for (uint32_t a = 0; a < 2 * nlinks; a++) { /* arc a leaves ends[a], enters ends[a ^ 1] */
        uint32_t slot = row[ends[a]]++;
        head[slot] = ends[a ^ 1u];
        arc_link[slot] = a / 2;
        link_arcs[a] = slot;
    }
    for (uint32_t u = n; u > 0; u--) row[u] = row[u - 1]; /* undo the shift of the fill */
    row[0] = 0;
    return FP_OK;
}

int fp_graph_check(const fp_graph *g) {
    if (g == NULL || g->row == NULL
        || (g->nlinks > 0 && (g->head == NULL || g->arc_link == NULL || g->link_arcs == NULL)))
        return FP_E_NULL;
    if (g->nlinks > UINT32_MAX / 2) return FP_E_GRAPH;
    uint32_t arcs = 2 * g->nlinks;
    if (g->row[0] != 0 || g->row[g->n] != arcs) return FP_E_GRAPH;
    for (uint32_t u = 0; u < g->n; u++)
        if (g->row[u] > g->row[u + 1]) return FP_E_GRAPH;
    for (uint32_t a = 0; a < arcs; a++)
        if (g->head[a] >= g->n || g->arc_link[a] >= g->nlinks) return FP_E_GRAPH;
    uint64_t total = 0;
    for (uint32_t l = 0; l < g->nlinks; l++) {
        uint32_t a = g->link_arcs[2 * l], b = g->link_arcs[2 * l + 1];
        if (a >= arcs || b >= arcs || g->arc_link[a] != l || g->arc_link[b] != l || a == b)
            return FP_E_GRAPH;
        if (g->up != NULL && g->up[l] > 1) return FP_E_GRAPH;
        if (g->weight) {
            if (g->weight[l] == 0) return FP_E_GRAPH;
            total += g->weight[l];
        }
    }
    if (total >= FP_INF) return FP_E_GRAPH; /* every distance then fits below FP_INF */
    return FP_OK;
}

/* Breadth-first search from dest. When u leaves the queue every node one hop
 * nearer to dest already has its distance, so u's next hops are set in the
 * same pass over its arcs. On graphs larger than the caches the time goes to
 * fetching each node's arcs: the node PREFETCH places behind in the queue gets
 * them fetched ahead (its row first, its arcs once the row has arrived).
 * `all_up` lets the compiler drop the up-flag loads when no link is down. */
#define PREFETCH 8
static inline void bfs_loop(const fp_graph *g, uint32_t dest, uint32_t *dist, uint64_t *nh,
                            uint32_t *queue, const int all_up) {
    uint32_t qhead = 0, qtail = 0;
    dist[dest] = 0;
    queue[qtail++] = dest;
    while (qhead < qtail) {
        if (qhead + PREFETCH < qtail) __builtin_prefetch(&g->row[queue[qhead + PREFETCH]]);
        if (qhead + PREFETCH / 2 < qtail) {
            uint32_t w = queue[qhead + PREFETCH / 2];
            __builtin_prefetch(&g->head[g->row[w]]);
            if (!all_up) __builtin_prefetch(&g->arc_link[g->row[w]]);
        }
        uint32_t u = queue[qhead++], du = dist[u];
        uint32_t a = g->row[u], end = g->row[u + 1];
        uint64_t bits = 0;                 /* next-hop bits of nh[a >> 6], kept in a register */
        for (; a < end; a++) {
            uint32_t v = g->head[a], dv = dist[v];
            uint32_t up = all_up || g->up[g->arc_link[a]];
            uint32_t fresh = up & (dv == FP_INF);
            bits |= (uint64_t)(up & (dv + 1 == du) & !fresh) << (a & 63);
            dist[v] = fresh ? du + 1 : dv;
            queue[qtail] = v;
            qtail += fresh;
            if ((a & 63) == 63) {
                nh[a >> 6] |= bits;
                bits = 0;
            }
        }
        if (bits) nh[a >> 6] |= bits;      /* the last, partial word (a & 63 != 0) */
    }
}

static void bfs(const fp_graph *g, uint32_t dest, uint32_t *dist, uint64_t *nh,
                uint32_t *queue) {
    if (g->up == NULL)
        bfs_loop(g, dest, dist, nh, queue, 1);
    else
        bfs_loop(g, dest, dist, nh, queue, 0);
}

/* Binary min-heap of nodes keyed by dist[], with each node's slot in pos[]
 * (FP_INF: not in the heap) for decrease-key. */
typedef struct heap {
    uint32_t *node;
    uint32_t *pos;
    const uint32_t *key;
    uint32_t size;
} heap;

static void heap_up(heap *h, uint32_t i) {
    uint32_t x = h->node[i], kx = h->key[x];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2, p = h->node[parent];
        if (h->key[p] <= kx) break;
        h->node[i] = p;
        h->pos[p] = i;
        i = parent;
    }
    h->node[i] = x;
    h->pos[x] = i;
}

static void heap_down(heap *h, uint32_t i) {
    uint32_t x = h->node[i], kx = h->key[x];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= h->size) break;
        if (c + 1 < h->size && h->key[h->node[c + 1]] < h->key[h->node[c]]) c++;
        if (h->key[h->node[c]] >= kx) break;
        h->node[i] = h->node[c];
        h->pos[h->node[i]] = i;
        i = c;
    }
    h->node[i] = x;
    h->pos[x] = i;
}

/* Dijkstra from dest with a binary heap. When u is taken from the heap every
 * node nearer to dest is final (weights are >= 1), so u's next hops are set in
 * the same pass over its arcs that relaxes its neighbours. */
static void dijkstra(const fp_graph *g, uint32_t dest, uint32_t *dist, uint64_t *nh,
                     uint32_t *work) {
    heap h = {work, work + g->n, dist, 0};
    memset(h.pos, 0xff, (size_t)g->n * sizeof *h.pos);
    dist[dest] = 0;
    h.node[h.size++] = dest;
    h.pos[dest] = 0;
    while (h.size > 0) {
        uint32_t u = h.node[0];
        h.pos[u] = FP_INF;
        if (--h.size > 0) {
            h.node[0] = h.node[h.size];
            heap_down(&h, 0);
        }
        uint64_t du = dist[u];
        for (uint32_t a = g->row[u], end = g->row[u + 1]; a < end; a++) {
            uint32_t link = g->arc_link[a], v = g->head[a], dv = dist[v];
            if (g->up != NULL && !g->up[link]) continue;
            uint64_t w = g->weight[link], via = du + w;
            /* v nearer by exactly w: it is final (weights >= 1), and a next hop */
            bits_or(nh, a, dv != FP_INF && dv + w == du);
            if (via >= dv) continue; /* so via < FP_INF */
            dist[v] = (uint32_t)via;
            if (dv == FP_INF) {
                h.node[h.size] = v;
                heap_up(&h, h.size++);
            } else {
                heap_up(&h, h.pos[v]);
            }
        }
    }
}

static void tree(const fp_graph *g, uint32_t dest, uint32_t *dist, uint64_t *nh,
                 uint32_t *work) {
    memset(dist, 0xff, (size_t)g->n * sizeof *dist);
    memset(nh, 0, fp_nh_words(g->nlinks) * sizeof *nh);
    if (g->weight)
        dijkstra(g, dest, dist, nh, work);
    else
        bfs(g, dest, dist, nh, work);
}

int fp_tree(const fp_graph *g, uint32_t dest, uint32_t *dist, uint64_t *nh, uint32_t *work) {
    if (g == NULL || dist == NULL || nh == NULL || work == NULL) return FP_E_NULL;
    if (dest >= g->n) return FP_E_RANGE;
    tree(g, dest, dist, nh, work);
    return FP_OK;
}

static int dests_ok(const fp_graph *g, const uint32_t *dests, uint32_t nd) {
    for (uint32_t k = 0; k < nd; k++)
        if (dests[k] >= g->n) return 0;
    return 1;
}

/* Breadth-first search from up to 64 destinations at once, one bit each in a
 * word per node (multi-source BFS): seen[v] says which searches reached v,
 * frontier[v] which reached it in the last level. A level ORs each frontier
 * word into the neighbours' `next` words; the bits new to a node give its
 * distance for those destinations, and its arcs into the previous frontier are
 * its next hops for them. One pass over the graph per level serves all 64. */
static void bfs64(const fp_graph *g, const uint32_t *dests, const uint32_t *ks, uint32_t count,
                  uint32_t *table_dist, uint64_t *table_nh, uint64_t *seen, uint64_t *frontier,
                  uint64_t *next) {
    size_t n = g->n, words = fp_nh_words(g->nlinks);
    uint32_t *dist[64];
    uint64_t *nh[64];
    memset(seen, 0, n * sizeof *seen);
    memset(frontier, 0, n * sizeof *frontier);
    for (uint32_t i = 0; i < count; i++) { /* search i: toward dests[ks[i]], into row ks[i] */
        uint32_t d = dests[ks[i]];
        dist[i] = table_dist + (size_t)ks[i] * n;
        nh[i] = table_nh + (size_t)ks[i] * words;
        memset(dist[i], 0xff, n * sizeof *dist[i]);
        memset(nh[i], 0, words * sizeof *nh[i]);
        seen[d] |= (uint64_t)1 << i;
        frontier[d] |= (uint64_t)1 << i;
        dist[i][d] = 0;
    }
    for (uint32_t level = 1;; level++) {
        memset(next, 0, n * sizeof *next);
        for (uint32_t u = 0; u < n; u++) {
            uint64_t f = frontier[u];
            if (f == 0) continue;
            for (uint32_t a = g->row[u]; a < g->row[u + 1]; a++)
                if (g->up == NULL || g->up[g->arc_link[a]]) next[g->head[a]] |= f;
        }
        int any = 0;
        for (uint32_t v = 0; v < n; v++) {
            uint64_t fresh = next[v] & ~seen[v];
            next[v] = fresh;
            if (fresh == 0) continue;
            any = 1;
            seen[v] |= fresh;
            for (uint64_t b = fresh; b; b &= b - 1) dist[__builtin_ctzll(b)][v] = level;
            for (uint32_t a = g->row[v]; a < g->row[v + 1]; a++) {
                if (g->up != NULL && !g->up[g->arc_link[a]]) continue;
                for (uint64_t b = frontier[g->head[a]] & fresh; b; b &= b - 1)
                    nh[__builtin_ctzll(b)][a >> 6] |= (uint64_t)1 << (a & 63);
            }
        }
        if (!any) break;
        uint64_t *swap = frontier;
        frontier = next;
        next = swap;
    }
}

/* Recomputes rows ks[0 .. count) of the table: by hop count 64 at a time. */
static void recompute(const fp_graph *g, const uint32_t *dests, const uint32_t *ks,
                      uint32_t count, uint32_t *dist, uint64_t *nh, uint32_t *work) {
    size_t words = fp_nh_words(g->nlinks);
    for (uint32_t i = 0; i < count;) {
        uint32_t batch = count - i < 64 ? count - i : 64;
        if (g->weight == NULL && batch > 1) {
            uint64_t *w64 = (uint64_t *)(void *)work; /* 3 * n words of 64 bits */
            bfs64(g, dests, ks + i, batch, dist, nh, w64, w64 + g->n, w64 + 2 * (size_t)g->n);
            i += batch;
        } else {
            tree(g, dests[ks[i]], dist + (size_t)ks[i] * g->n, nh + (size_t)ks[i] * words, work);
            i++;
        }
    }
}

int fp_routes_compute(const fp_graph *g, const uint32_t *dests, uint32_t nd, uint32_t *dist,
                      uint64_t *nh, uint32_t *work) {
    if (g == NULL || (nd > 0 && (dests == NULL || dist == NULL || nh == NULL || work == NULL)))
        return FP_E_NULL;
    if (!dests_ok(g, dests, nd)) return FP_E_RANGE;
    uint32_t ks[64];
    for (uint32_t k = 0; k < nd; k += 64) {
        uint32_t batch = nd - k < 64 ? nd - k : 64;
        for (uint32_t i = 0; i < batch; i++) ks[i] = k + i;
        recompute(g, dests, ks, batch, dist, nh, work);
    }
    return FP_OK;
}

/* Does node u keep a next hop toward the destination? */
static int has_next_hop(const fp_graph *g, const uint64_t *nh, uint32_t u) {
    for (uint32_t a = g->row[u]; a < g->row[u + 1]; a++)
        if (bit_get(nh, a)) return 1;
    return 0;
}

enum { UNCHANGED = 0, NEXT_HOPS_CHANGED = 1, RECOMPUTE = 2 };
#define REDO 0x80000000u /* a flag on an index of changed[]: recompute that row */

/* Link down: its arc u->v (at most one of the two can be a next hop, weights
 * being >= 1) leaves the set. If u keeps another next hop, no distance changes
 * and that bit is all; otherwise the destination is to be recomputed. */
static int repair_down(const fp_graph *g, uint32_t link, uint64_t *nh) {
    for (int side = 0; side < 2; side++) {
        uint32_t a = g->link_arcs[2 * link + (uint32_t)side];
        if (!bit_get(nh, a)) continue;
        bit_clear(nh, a);
        uint32_t u = g->head[g->link_arcs[2 * link + (uint32_t)(1 - side)]];
        return has_next_hop(g, nh, u) ? NEXT_HOPS_CHANGED : RECOMPUTE;
    }
    return UNCHANGED;
}

/* Link up: an arc u->v with dist[v] + w == dist[u] joins u's set; one with
 * dist[v] + w < dist[u] shortens paths and the destination is to be recomputed. */
static int repair_up(const fp_graph *g, uint32_t link, const uint32_t *dist, uint64_t *nh) {
    uint64_t w = weight_of(g, link);
    int joined = UNCHANGED;
    for (int side = 0; side < 2; side++) {
        uint32_t a = g->link_arcs[2 * link + (uint32_t)side];
        uint32_t u = g->head[g->link_arcs[2 * link + (uint32_t)(1 - side)]], v = g->head[a];
        if (dist[v] == FP_INF) continue;
        uint64_t via = (uint64_t)dist[v] + w;
        if (via < dist[u]) return RECOMPUTE;
        if (via == dist[u]) {
            bit_set(nh, a);
            joined = NEXT_HOPS_CHANGED;
        }
    }
    return joined;
}

int fp_routes_set_link(fp_graph *g, uint32_t link, uint8_t up, const uint32_t *dests,
                       uint32_t nd, uint32_t *dist, uint64_t *nh, uint32_t *work,
                       uint32_t *changed, uint32_t *nchanged) {
    if (g == NULL || nchanged == NULL
        || (nd > 0 && (dests == NULL || dist == NULL || nh == NULL || work == NULL
                       || changed == NULL)))
        return FP_E_NULL;
    if (g->up == NULL) return FP_E_NULL;
    if (link >= g->nlinks || up > 1 || nd >= REDO || !dests_ok(g, dests, nd)) return FP_E_RANGE;
    if (g->up[link] == up) return FP_E_STATE;
    g->up[link] = up;
    size_t words = fp_nh_words(g->nlinks);
    /* First the cheap repairs, each destination on its own; those to recompute
     * are flagged in changed[] (high bit) and recomputed after, together: 64
     * searches at a time by hop count. */
    uint32_t count = 0;
    for (uint32_t k = 0; k < nd; k++) {
        uint32_t *dk = dist + (size_t)k * g->n;
        uint64_t *nk = nh + (size_t)k * words;
        int hit = up ? repair_up(g, link, dk, nk) : repair_down(g, link, nk);
        if (hit != UNCHANGED) changed[count++] = k | (hit == RECOMPUTE ? REDO : 0);
    }
    uint32_t ks[64], batch = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (!(changed[i] & REDO)) continue;
        changed[i] &= ~REDO;
        ks[batch++] = changed[i];
        if (batch == 64) {
            recompute(g, dests, ks, batch, dist, nh, work);
            batch = 0;
        }
    }
    if (batch > 0) recompute(g, dests, ks, batch, dist, nh, work);
    *nchanged = count;
    return FP_OK;
}
