"""pack: the least loaded target in use is drained onto the fullest ones with room; no
swaps, nothing half-drained, capacity kept."""

from __future__ import annotations

from ctrl.control.topology import parse_topology
from ctrl.placement.engine import Limits, Placed, PlacementEngine, Target, Verdict, World
from ctrl.placement.fabric import Fabric
from ctrl.placement.follow import FollowClients
from ctrl.placement.manager import Policy
from ctrl.placement.pack import Pack

TOPO = """\
switches:
  s1: {device_id: 1, grpc_addr: "127.0.0.1:1"}
  s2: {device_id: 2, grpc_addr: "127.0.0.1:2"}
links: [[s1:1, s2:1]]
hypervisors:
  a: {switch: s1, port: 2, capacity: 3}
  b: {switch: s1, port: 3, capacity: 3}
  c: {switch: s2, port: 2, capacity: 3}
  d: {switch: s2, port: 3, capacity: 0}
"""


def rig(places: dict[str, str], max_vms: int = 3) -> tuple[PlacementEngine, World]:
    topo = parse_topology(TOPO)
    fabric = Fabric(topo)
    targets = {h.name: Target(h.name, h.attach.switch, "default",
                              h.max_vms if h.max_vms == 0 else max_vms)
               for h in topo.hypervisors.values()}
    engine = PlacementEngine([Pack(), FollowClients()], targets, Limits(concurrent=10))
    vms = {}
    for vm, h in places.items():
        engine.set_policy(vm, Policy("pack", {"dwell": 0.0}))
        vms[vm] = Placed(vm, h, topo.hypervisors[h].attach.switch, 0.0)
    return engine, World(vms, {}, fabric.links, fabric.best)


def moves(engine: PlacementEngine, world: World) -> dict[str, str | None]:
    return {d.vm: d.to for d in engine.decide(world, 1.0) if d.verdict is Verdict.MIGRATE}


def test_the_least_loaded_is_drained_onto_the_fullest() -> None:
    engine, world = rig({"v1": "a", "v2": "a", "v3": "b", "v4": "c"})
    # b and c hold one each; c (last in order among equals) is drained onto a, the fullest.
    assert moves(engine, world) == {"v4": "a"}
    d = engine.decisions["v4"]
    assert "emptying c: 3 targets in use, 2 once" in d.why
    assert dict(d.costs) == {"c": 3.0, "a": 2.0}
    assert "not the one being emptied (c)" in engine.decisions["v1"].why


def test_nothing_moves_when_the_drained_ones_do_not_fit() -> None:
    engine, world = rig({"v1": "a", "v2": "a", "v3": "b", "v4": "b"}, max_vms=2)
    assert moves(engine, world) == {}
    assert "fits on no other target in use" in engine.decisions["v3"].why
    engine, world = rig({"v1": "a", "v2": "a"})
    assert moves(engine, world) == {}
    assert "1 placement target in use: nothing to pack" in engine.decisions["v1"].why


def test_a_target_holding_vms_of_another_policy_is_not_drained() -> None:
    engine, world = rig({"v1": "a", "v2": "a", "v3": "b"})
    engine.set_policy("v3", Policy("follow-clients", {"dwell": 0.0}))
    # b holds fewer, but v3 is not pack's to move: a is emptied onto b instead.
    assert moves(engine, world) == {"v1": "b", "v2": "b"}
    engine, world = rig({"v1": "a", "v2": "b"})
    engine.set_policy("v2", Policy("follow-clients", {"dwell": 0.0}))
    engine.set_policy("v3", Policy("follow-clients", {"dwell": 0.0}))
    world = World({**world.vms, "v3": Placed("v3", "a", "s1", 0.0)}, {}, world.links,
                  world.best)                        # a holds a follow-clients VM too
    assert moves(engine, world) == {}
    assert "every target in use also holds VMs of another policy" in engine.decisions["v1"].why


def test_packing_ends_with_one_target_and_never_swaps() -> None:
    places = {"v1": "a", "v2": "b", "v3": "c"}
    engine, world = rig(places)
    rounds = 0
    for _ in range(5):
        rounds += 1
        got = moves(engine, world)
        for vm, to in got.items():
            assert to is not None
            engine.finished(vm, True, "done", 1.0)
            places[vm] = to
        engine2_world = {vm: Placed(vm, h, world.vms[vm].switch, 0.0)
                         for vm, h in places.items()}
        world = World(engine2_world, {}, world.links, world.best)
        if not got:
            break
    assert len(set(places.values())) == 1 and rounds <= 3
