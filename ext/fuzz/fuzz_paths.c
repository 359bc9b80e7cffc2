/* libFuzzer harness of the path engine (ext/fp_paths.c), built by run.sh with
 * AddressSanitizer and UndefinedBehaviorSanitizer.
 *
 * The input is a small graph (node count, links, optional weights) and a list
 * of link flips. After each flip, the incrementally repaired route table must
 * equal a table computed from scratch, and the destinations reported changed
 * must be exactly those whose rows differ from before the flip.
 */
#include "fp_parse.h"
#include "fp_paths.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    CHECK(p != NULL);
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    uint32_t n = 1 + data[0] % 24;
    int weighted = data[1] & 1;
    uint32_t want_links = data[2] % 48;
    size_t pos = 3;
    uint32_t *ends = xcalloc(2 * (size_t)want_links, sizeof *ends);
    uint32_t *weight = xcalloc(want_links, sizeof *weight);
    uint32_t nlinks = 0;
    while (nlinks < want_links && pos + 3 <= size) {
        uint32_t u = data[pos] % n, v = data[pos + 1] % n;
        uint32_t w = 1 + data[pos + 2] % 8;
        pos += 3;
        if (u == v) {
            CHECK(fp_graph_build(n, 1, (uint32_t[]){u, v}, (uint32_t[25]){0},
                                 (uint32_t[2]){0}, (uint32_t[2]){0},
                                 (uint32_t[2]){0}) == FP_E_GRAPH);
            continue;
        }
        ends[2 * nlinks] = u;
        ends[2 * nlinks + 1] = v;
        weight[nlinks++] = w;
    }
    size_t arcs = 2 * (size_t)nlinks, words = fp_nh_words(nlinks), cells = (size_t)n * n;
    uint32_t *row = xcalloc(n + 1, sizeof *row), *head = xcalloc(arcs, sizeof *head);
    uint32_t *arc_link = xcalloc(arcs, sizeof *arc_link);
    uint32_t *link_arcs = xcalloc(arcs, sizeof *link_arcs);
    uint8_t *up = xcalloc(nlinks, 1);
    memset(up, 1, nlinks);
    CHECK(fp_graph_build(n, nlinks, ends, row, head, arc_link, link_arcs) == FP_OK);
    fp_graph g = {n, nlinks, row, head, arc_link, link_arcs, weighted ? weight : NULL, up};
    CHECK(fp_graph_check(&g) == FP_OK);

    uint32_t *dests = xcalloc(n, sizeof *dests);
    for (uint32_t k = 0; k < n; k++) dests[k] = k;
    uint32_t *dist = xcalloc(cells, sizeof *dist), *dist2 = xcalloc(cells, sizeof *dist2);
    uint32_t *before = xcalloc(cells, sizeof *before);
    uint64_t *nh = xcalloc(n * words, sizeof *nh), *nh2 = xcalloc(n * words, sizeof *nh2);
    uint64_t *nh_before = xcalloc(n * words, sizeof *nh_before);
    uint32_t *work = xcalloc(FP_WORK_PER_NODE * (size_t)n, sizeof *work);
    uint32_t *changed = xcalloc(n, sizeof *changed);
    CHECK(fp_routes_compute(&g, dests, n, dist, nh, work) == FP_OK);
    for (uint32_t k = 0; k < n; k++) CHECK(dist[(size_t)k * n + k] == 0);
    /* The same table one destination at a time (breadth-first search or Dijkstra
     * each, not 64 at once), and with no up flags (all up): identical. */
    for (uint32_t k = 0; k < n; k++) {
        CHECK(fp_tree(&g, k, dist2 + (size_t)k * n, nh2 + k * words, work) == FP_OK);
    }
    CHECK(memcmp(dist, dist2, cells * sizeof *dist) == 0);
    CHECK(memcmp(nh, nh2, n * words * sizeof *nh) == 0);
    fp_graph all_up = g;
    all_up.up = NULL;
    CHECK(fp_routes_compute(&all_up, dests, n, dist2, nh2, work) == FP_OK);
    CHECK(memcmp(dist, dist2, cells * sizeof *dist) == 0);
    CHECK(memcmp(nh, nh2, n * words * sizeof *nh) == 0);

    for (; nlinks > 0 && pos < size; pos++) {
        uint32_t link = data[pos] % nlinks;
        uint8_t value = (uint8_t)!up[link];
        memcpy(before, dist, cells * sizeof *dist);
        memcpy(nh_before, nh, n * words * sizeof *nh);
        uint32_t nchanged = 0;
        CHECK(fp_routes_set_link(&g, link, value, dests, n, dist, nh, work, changed, &nchanged)
              == FP_OK);
        CHECK(up[link] == value);
        CHECK(fp_routes_compute(&g, dests, n, dist2, nh2, work) == FP_OK);
        CHECK(memcmp(dist, dist2, cells * sizeof *dist) == 0);
        CHECK(memcmp(nh, nh2, n * words * sizeof *nh) == 0);
        for (uint32_t k = 0; k < n; k++) { /* and one destination at a time */
            CHECK(fp_tree(&g, k, dist2, nh2, work) == FP_OK);
            CHECK(memcmp(dist + (size_t)k * n, dist2, n * sizeof *dist) == 0);
            CHECK(memcmp(nh + k * words, nh2, words * sizeof *nh) == 0);
        }
        size_t c = 0;
        for (uint32_t k = 0; k < n; k++) {
            int differs = memcmp(before + (size_t)k * n, dist + (size_t)k * n, n * sizeof *dist)
                          || memcmp(nh_before + k * words, nh + k * words, words * sizeof *nh);
            if (c < nchanged && changed[c] == k) {
                CHECK(differs);
                c++;
            } else {
                CHECK(!differs);
            }
        }
        CHECK(c == nchanged);
        CHECK(fp_routes_set_link(&g, link, value, dests, n, dist, nh, work, changed, &nchanged)
              == FP_E_STATE);
    }
    free(ends); free(weight); free(row); free(head); free(arc_link); free(link_arcs); free(up);
    free(dests); free(dist); free(dist2); free(before); free(nh); free(nh2); free(nh_before);
    free(work); free(changed);
    return 0;
}
