"""Planning one VM move: the controller's piece-by-piece wanted state next to planning every
switch from scratch and diffing it against what was there (what the controller did before),
in the same run, on a chain of 40 switches with 2,000 VMs. Both give the same updates
(checked before timing). The summary prints medians and the ratio; nothing is asserted
about time.
"""

from __future__ import annotations

from typing import Any

from bench.conftest import RATIOS
from ctrl.control.diff import Diff, diff
from ctrl.control.planner import PlacedVM, Planner, placed
from ctrl.control.topology import PortRef, parse_topology
from ctrl.control.wanted import WantedState
from ctrl.p4rt.entity import Entity

SWITCHES, VMS = 40, 2000
TITLE = f"planning one move, {SWITCHES} switches, {VMS:,} VMs (median)"
TIMES: dict[str, float] = {}


def _setup() -> tuple[Planner, list[PlacedVM]]:
    sw = "\n".join(f'  s{i}: {{device_id: {i + 1}, grpc_addr: "127.0.0.1:{i + 1}"}}'
                   for i in range(SWITCHES))
    links = "\n".join(f"  - [s{i}:1, s{i + 1}:2]" for i in range(SWITCHES - 1))
    topo = parse_topology(f"switches:\n{sw}\nlinks:\n{links}\n"
                          'vnets:\n  blue: {id: 10, gateway_mac: "02:00:00:00:00:01"}\n')
    vms = [placed(10, 0x020000000000 + i, 0x0A000000 + i, PortRef(f"s{i % SWITCHES}", 10))
           for i in range(VMS)]
    return Planner(topo), vms


PLANNER, PLACED = _setup()
MOVES = [placed(10, PLACED[7].mac, PLACED[7].ip, PortRef(f"s{(k * 7) % SWITCHES}", 11))
         for k in range(1, 9)]


def _plan(vm: PlacedVM) -> dict[str, list[Entity]]:
    return {sw: PLANNER.vm_entries(sw, vm) for sw in PLANNER.topo.switches}


def _record(who: str, seconds: float) -> None:
    TIMES[who] = seconds
    lines = [f"  {k:<42} {v * 1e3:>10,.2f} ms" for k, v in TIMES.items()]
    if len(TIMES) == 2:
        inc, full = TIMES["piece by piece (ctrl.control.wanted)"], TIMES["from scratch + diff"]
        lines.append(f"  piece by piece is x{full / inc:,.0f} faster")
    RATIOS[TITLE] = lines


def _changes_from_scratch(before: dict[str, list[Entity]], vms: list[PlacedVM]
                          ) -> dict[str, Diff]:
    after = PLANNER.wanted(vms)
    return {sw: d for sw in after if len(d := diff(after[sw], before[sw]))}


def test_piece_by_piece(benchmark: Any) -> None:
    state = WantedState()
    for sw in PLANNER.topo.switches:
        state.set(("base", sw), {sw: PLANNER.base(sw)})
    for vm in PLACED:
        state.set(("vm", vm.mac), _plan(vm))
    before = PLANNER.wanted(PLACED)
    moved = [MOVES[0] if vm.mac == MOVES[0].mac else vm for vm in PLACED]
    want = _changes_from_scratch(before, moved)
    got = state.set(("vm", MOVES[0].mac), _plan(MOVES[0]))
    assert {sw: sorted(map(repr, d.updates())) for sw, d in got.items()} == {
        sw: sorted(map(repr, d.updates())) for sw, d in want.items()}
    moves = iter(MOVES * 1000)
    benchmark.pedantic(lambda: state.set(("vm", MOVES[0].mac), _plan(next(moves))),
                       rounds=40, iterations=1)
    _record("piece by piece (ctrl.control.wanted)", benchmark.stats.stats.median)


def test_from_scratch(benchmark: Any) -> None:
    before = PLANNER.wanted(PLACED)
    moved = [MOVES[1] if vm.mac == MOVES[1].mac else vm for vm in PLACED]
    benchmark.pedantic(_changes_from_scratch, args=(before, moved), rounds=3, iterations=1)
    _record("from scratch + diff", benchmark.stats.stats.median)
