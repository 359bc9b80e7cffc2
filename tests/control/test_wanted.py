"""The wanted state kept piece by piece equals the planner's from-scratch answer, and the
diffs it returns turn the old state into the new one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ctrl.control.diff import Diff
from ctrl.control.planner import InFlight, PlacedVM, Planner, placed
from ctrl.control.topology import PortRef, parse_topology
from ctrl.control.wanted import WantedState
from ctrl.p4rt.entity import Entity, UpdateType
from tests.topologies import TOPO

PORTS = [PortRef(s, p) for s in ("s1", "s2", "s3", "s4") for p in (3, 4)]
MACS = [0x020000000101 + i for i in range(4)]


def keyed(entities: list[Entity]) -> dict[object, Entity]:
    return {e.key(): e for e in entities}


def applied(installed: dict[object, Entity], d: Diff) -> None:
    keys = [u.entity.key() for u in d.updates()]
    assert len(keys) == len(set(keys)), "one update per entry in a batch"
    for u in d.updates():
        k = u.entity.key()
        if u.type is UpdateType.INSERT:
            assert k not in installed
            installed[k] = u.entity
        elif u.type is UpdateType.MODIFY:
            assert k in installed
            installed[k] = u.entity
        else:
            assert installed.pop(k) is not None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, len(PORTS) - 1), st.booleans()),
                min_size=1, max_size=12))
def test_piece_by_piece_equals_from_scratch(steps: list[tuple[int, int, bool]]) -> None:
    planner = Planner(parse_topology(TOPO))
    vms: dict[int, PlacedVM] = {
        mac: placed(10, mac, 0x0A000001 + i, PORTS[i]) for i, mac in enumerate(MACS)}
    flights: dict[tuple[int, int], InFlight] = {}
    provisioned: dict[PortRef, int] = {}
    state = WantedState()

    def plan(vm: PlacedVM) -> dict[str, list[Entity]]:
        return {sw: planner.vm_entries(sw, vm, flights.get((vm.vnet, vm.mac)))
                for sw in planner.topo.switches}

    station = planner.my_station(10)
    assert station is not None
    for sw in planner.topo.switches:
        state.set(("base", sw), {sw: [*planner.base(sw), station]})
    for vm in vms.values():
        state.set(("vm", vm.mac), plan(vm))
    installed = {sw: keyed(state.entities(sw)) for sw in planner.topo.switches}

    for i, port, announce in steps:
        mac = MACS[i]
        to = PORTS[port]
        if announce and to != vms[mac].at:
            flights[(10, mac)] = InFlight(to, group=i + 1)
            provisioned[to] = 10
        else:
            flights.pop((10, mac), None)
            provisioned.pop(to, None)
            vms[mac] = placed(10, mac, vms[mac].ip, to)
        ports = [(("port", at), {at.switch: [planner.ready_port(at, v)]})
                 for at, v in provisioned.items()]
        gone: list[tuple[object, dict[str, list[Entity]]]] = [
            (("port", at), {}) for at in PORTS if at not in provisioned]
        changes = state.set_many([(("vm", mac), plan(vms[mac])), *ports, *gone])
        for sw, d in changes.items():
            applied(installed[sw], d)
        want = planner.wanted(vms.values(), provisioned, flights)
        for sw in planner.topo.switches:
            assert keyed(state.entities(sw)) == keyed(want[sw]), sw
            assert installed[sw] == keyed(want[sw]), sw


def test_an_entry_stays_while_any_owner_wants_it() -> None:
    planner = Planner(parse_topology(TOPO))
    at = PortRef("s2", 3)
    state = WantedState()
    assert set(state.set("a", {"s2": [planner.ready_port(at, 10)]})) == {"s2"}
    assert state.set("b", {"s2": [planner.ready_port(at, 10)]}) == {}
    assert state.drop("a") == {}
    d = state.drop("b")
    assert [u.type for u in d["s2"].updates()] == [UpdateType.DELETE]
    assert state.entities("s2") == []
