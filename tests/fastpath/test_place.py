"""The placement cost kernel: C equals the Python reference number for number, both equal
a plain sum over the distance table, and bad arguments are refused before anything runs."""

from __future__ import annotations

import math
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrl.fastpath import INF, Backend, GraphError, native_available
from ctrl.fastpath.place import NONE, CostTable, Demands

needs_c = pytest.mark.skipif(not native_available(), reason="the C fast path is not built here")
BACKENDS = [pytest.param(Backend.NATIVE, marks=needs_c), Backend.REFERENCE]


@st.composite
def problems(draw: st.DrawFn) -> tuple[int, array[int], list[dict[int, float]], list[int],
                                       list[int | None], bytes]:
    n = draw(st.integers(1, 9))
    dist = array("I", [0 if u == v else draw(st.sampled_from([1, 2, 3, 7, INF]))
                       for u in range(n) for v in range(n)])
    weights = st.sampled_from([0.0, 0.5, 1.0, 3.0, 250.0])
    demands = draw(st.lists(st.dictionaries(st.integers(0, n - 1), weights, max_size=4),
                            max_size=6))
    cand = draw(st.lists(st.integers(0, n - 1), max_size=n, unique=True))
    cur = [draw(st.none() | st.integers(0, n - 1)) for _ in demands]
    allowed = bytes(draw(st.lists(st.integers(0, 1), min_size=len(cand), max_size=len(cand))))
    return n, dist, demands, cand, cur, allowed


def plain(dist: array[int], n: int, demand: dict[int, float], k: int) -> float:
    total = 0.0
    for node, w in demand.items():
        if w:
            d = dist[node * n + k]
            total += math.inf if d == INF else w * d
    return total


@settings(max_examples=300, deadline=None)
@given(problems())
def test_c_equals_the_reference_and_a_plain_sum(p: tuple[int, array[int], list[dict[int, float]],
                                                         list[int], list[int | None], bytes]
                                                ) -> None:
    n, dist, demands, cand, cur, allowed = p
    d = Demands.of(demands)
    answers = []
    backends = [Backend.REFERENCE] + ([Backend.NATIVE] if native_available() else [])
    for backend in backends:
        table = CostTable(dist, n, backend=backend)
        costs = table.costs(d, cand)
        best = table.best(d, cand, cur, allowed=allowed, rows=True)
        answers.append((costs, list(best.index), list(best.cost), list(best.here),
                        list(best.rows or [])))
        for i, demand in enumerate(demands):
            want = [plain(dist, n, demand, k) for k in cand]
            assert costs[i] == want
            assert list(best.row(i)) == want
            ok = [j for j in range(len(cand)) if allowed[j] and want[j] < math.inf]
            if ok:
                j = min(ok, key=lambda j: (want[j], j))
                assert (best.index[i], best.cost[i]) == (j, want[j])
            else:
                assert best.index[i] == NONE and best.cost[i] == math.inf
            at = cur[i]
            here = math.inf if at is None else plain(dist, n, demand, at)
            assert best.here[i] == here
    assert all(a == answers[0] for a in answers)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_arguments_are_refused(backend: Backend) -> None:
    dist = array("I", [0, 1, 1, 0])
    table = CostTable(dist, 2, backend=backend)
    with pytest.raises(GraphError, match="candidate 2"):
        table.costs(Demands.of([{0: 1.0}]), [2])
    with pytest.raises(GraphError, match="demand at 5"):
        table.costs(Demands.of([{5: 1.0}]), [0])
    for w in (-1.0, math.inf, math.nan):
        with pytest.raises(GraphError, match="finite"):
            table.best(Demands.of([{0: w}]), [0], [0])
    with pytest.raises(GraphError, match="current node 3"):
        table.best(Demands.of([{0: 1.0}]), [0], [3])
    with pytest.raises(GraphError, match="1 current nodes for 2 VMs"):
        table.best(Demands.of([{0: 1.0}, {}]), [0], [0])
    with pytest.raises(GraphError, match="allowed flags"):
        table.best(Demands.of([{0: 1.0}]), [0, 1], [0], allowed=b"\x01")
    with pytest.raises(GraphError, match="2 x 2"):
        CostTable(array("I", [0, 1, 1]), 2, backend=backend)
    with pytest.raises(ValueError, match="not kept"):
        table.best(Demands.of([{0: 1.0}]), [0], [0]).row(0)
    assert table.distance(0, 1) == 1
    assert CostTable(array("I", [0, INF, INF, 0]), 2).distance(0, 1) is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_nothing_to_weigh(backend: Backend) -> None:
    table = CostTable(array("I", [0]), 1, backend=backend)
    assert table.costs(Demands.of([]), [0]) == []
    best = table.best(Demands.of([{}]), [], [None])
    assert list(best.index) == [NONE] and best.here[0] == math.inf


def test_demands_by_name_are_demands_by_number() -> None:
    index = {"a": 0, "b": 1, "c": 2}
    by_name = Demands.of_names(index, [{"a": 1.0, "c": 2.5}, {}, {"b": 4.0}])
    by_number = Demands.of([{0: 1.0, 2: 2.5}, {}, {1: 4.0}])
    assert (by_name.off, by_name.nodes, by_name.weights) == (
        by_number.off, by_number.nodes, by_number.weights)
    assert len(by_name) == 3
