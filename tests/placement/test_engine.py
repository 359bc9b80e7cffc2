"""The engine's guard rails, one by one, on the Stanford campus with follow-clients: the
threshold, dwell, the per-VM and the engine's rate limits, migrations under way, capacity,
back-off after a failure; a manager that fails or proposes nonsense; policies refused with
a reason; nothing lost on the way."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import ClassVar

import pytest

from ctrl.control.topology import Topology, parse_topology
from ctrl.lab.cli import read_topology
from ctrl.placement.engine import Decision, Limits, Placed, PlacementEngine, Target, Verdict, World
from ctrl.placement.fabric import Fabric
from ctrl.placement.follow import FollowClients
from ctrl.placement.manager import PlacementError, Policy, Proposal, View, VMView
from ctrl.placement.pack import Pack

PACKARD = {"p-core": 100.0}            # the players' packets enter at Packard's AP switch
GATES = {"g-2": 100.0}


def campus() -> Topology:
    return parse_topology(read_topology("stanford")[0], addresses=False)


def targets(topo: Topology, **caps: int) -> dict[str, Target]:
    return {h.name: Target(h.name, h.attach.switch, "default",
                           caps.get(h.name.replace("-", "_"), h.max_vms), h.max_memory_mb)
            for h in topo.hypervisors.values()}


class Fixed:
    """A manager that proposes what it is told (and raises when told to)."""

    name = "fixed"
    params: ClassVar[Mapping[str, float]] = {}

    def __init__(self) -> None:
        self.to: dict[str, str | None] = {}
        self.costs: dict[str, dict[str, float]] = {}
        self.fail: Exception | None = None
        self.calls = 0

    def propose(self, view: View, vms: Sequence[VMView]) -> list[Proposal]:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return [Proposal(vm.name, self.to.get(vm.name), self.costs.get(vm.name, {}), "told")
                for vm in vms if vm.name in self.to]


class Rig:
    def __init__(self, limits: Limits | None = None, actuate: bool = True, **caps: int) -> None:
        self.topo = campus()
        self.fabric = Fabric(self.topo)
        self.fixed = Fixed()
        self.engine = PlacementEngine([FollowClients(), Pack(), self.fixed],
                                      targets(self.topo, **caps), limits or Limits(),
                                      actuate=actuate)
        self.vms: dict[str, Placed] = {}

    def place(self, name: str, hypervisor: str, demand: Mapping[str, float], since: float = 0.0,
              memory_mb: int = 512, flight: str | None = None) -> None:
        sw = self.topo.hypervisors[hypervisor].attach.switch
        self.vms[name] = Placed(name, hypervisor, sw, since, memory_mb, flight, dict(demand))

    def decide(self, now: float) -> dict[str, Decision]:
        world = World(self.vms, {}, self.fabric.links, self.fabric.best)
        return {d.vm: d for d in self.engine.decide(world, now)}

    def arrive(self, name: str, now: float) -> None:
        """Our migration of `name` done: it is where it went."""
        to = self.engine.moving[name][0]
        self.engine.finished(name, True, "done", now)
        self.place(name, to, self.vms[name].demand, since=now)


def follow(threshold: float = 0.2, dwell: float = 5.0, **more: float) -> Policy:
    return Policy("follow-clients", {"threshold": threshold, "dwell": dwell, **more})


def test_the_vm_follows_its_clients_after_its_dwell_and_stays_when_they_are_split() -> None:
    r = Rig()
    r.engine.set_policy("game", follow())
    r.place("game", "vmhost-gates", PACKARD, since=0.0)
    d = r.decide(3.0)["game"]
    assert (d.verdict, d.to) == (Verdict.WAIT, "vmhost-packard")
    assert "dwell: here 3.0 s of 5 s" in d.why and "cost 100 against 200 here" in d.why
    assert d.candidates() == [("vmhost-packard", 100.0), ("vmhost-gates", 200.0)]
    d = r.decide(5.0)["game"]
    assert (d.verdict, d.to) == (Verdict.MIGRATE, "vmhost-packard")
    assert r.engine.moving["game"][0] == "vmhost-packard" and r.engine.counters.started == 1
    assert r.decide(5.5)["game"].verdict is Verdict.MOVING   # ours under way: not touched
    r.arrive("game", 6.0)
    assert r.decide(7.0)["game"].verdict is Verdict.STAY
    # Equal traffic from both buildings: no candidate beats where it is.
    r.place("game", "vmhost-packard", {"p-core": 100.0, "g-2": 100.0}, since=6.0)
    d = r.decide(20.0)["game"]
    assert d.verdict is Verdict.STAY and "where it is is best" in d.why


def test_under_the_threshold_it_stays_above_it_moves() -> None:
    r = Rig()
    # laptop (100/s) at Gates, phone (200/s) at Packard, server at Gates: Packard costs
    # 100*2 + 200*1 = 400 against 100*1 + 200*2 = 500 here: 20 % less.
    demand = {"g-2": 100.0, "p-core": 200.0}
    r.engine.set_policy("game", follow(threshold=0.3))
    r.place("game", "vmhost-gates", demand)
    d = r.decide(100.0)["game"]
    assert d.verdict is Verdict.STAY and "saves 20%, below its threshold of 30%" in d.why
    r.engine.set_policy("game", follow(threshold=0.1))
    assert r.decide(101.0)["game"].verdict is Verdict.MIGRATE


def test_rate_limits_per_vm_and_for_the_engine() -> None:
    r = Rig(Limits(max_moves=2, per=60.0, concurrent=5))
    for i, name in enumerate(["a", "b", "c"]):
        r.engine.set_policy(name, follow(dwell=0.0))
        r.place(name, "vmhost-gates", {"p-core": 100.0 * (i + 1)})
    got = r.decide(10.0)
    # The moves that save most go first: c (300/s), then b; a waits for the engine's limit.
    assert [got[n].verdict for n in "abc"] == [Verdict.WAIT, Verdict.MIGRATE, Verdict.MIGRATE]
    assert "2 migrations started in the last 60 s (at most 2)" in got["a"].why
    assert r.decide(71.0)["a"].verdict is Verdict.MIGRATE   # the window has passed
    # Per VM: at most max_moves in `per`.
    r2 = Rig()
    r2.engine.set_policy("game", follow(dwell=0.0, max_moves=2, per=100.0))
    r2.place("game", "vmhost-gates", PACKARD)
    for t, there, back in ((1.0, "vmhost-packard", GATES), (2.0, "vmhost-gates", PACKARD)):
        assert r2.decide(t)["game"].verdict is Verdict.MIGRATE
        r2.arrive("game", t)
        r2.place("game", there, back, since=t)
    d = r2.decide(3.0)["game"]
    assert d.verdict is Verdict.WAIT and "moved 2 times in the last 100 s" in d.why
    assert r2.decide(102.0)["game"].verdict is Verdict.MIGRATE


def test_at_most_so_many_at_once() -> None:
    r = Rig(Limits(concurrent=1))
    for name in ("a", "b"):
        r.engine.set_policy(name, follow(dwell=0.0))
        r.place(name, "vmhost-gates", PACKARD)
    got = r.decide(1.0)
    assert sorted(d.verdict.value for d in got.values()) == ["migrate", "wait"]
    waiting = next(d for d in got.values() if d.verdict is Verdict.WAIT)
    assert "1 migrations under way (at most 1 at once)" in waiting.why


def test_a_migration_in_flight_is_never_touched() -> None:
    r = Rig()
    r.engine.set_policy("game", follow(dwell=0.0))
    r.place("game", "vmhost-gates", PACKARD, flight="vmhost-packard")
    d = r.decide(50.0)["game"]
    assert d.verdict is Verdict.BLOCKED and "in flight" in d.why and not r.engine.moving
    r.vms["game"] = replace(r.vms["game"], hypervisor=None)
    r.vms["game"] = replace(r.vms["game"], flight=None)
    assert "at no hypervisor's port" in r.decide(51.0)["game"].why
    del r.vms["game"]
    assert "does not know where it is" in r.decide(52.0)["game"].why


def test_capacity_in_vms_and_memory_and_the_next_best_place() -> None:
    r = Rig(vmhost_packard=1)
    r.engine.set_policy("game", follow(dwell=0.0))
    r.place("game", "vmhost-gates", PACKARD)
    r.place("other", "vmhost-packard", {})      # no policy, but it takes the room
    d = r.decide(1.0)["game"]
    assert d.verdict is Verdict.BLOCKED and "vmhost-packard holds 1 of 1 VMs" in d.why
    r2 = Rig()
    r2.engine.targets["vmhost-packard"] = replace(r2.engine.targets["vmhost-packard"],
                                                  max_memory_mb=1024)
    r2.engine.set_policy("game", follow(dwell=0.0))
    r2.place("game", "vmhost-gates", PACKARD, memory_mb=2048)
    d = r2.decide(1.0)["game"]
    assert d.verdict is Verdict.BLOCKED and "1024 MB free of 1024, the VM needs 2048" in d.why
    # A manager's first choice full: the next cheapest that still saves enough is taken.
    r3 = Rig(vmhost_packard=0)
    r3.engine.set_policy("game", Policy("fixed", {"dwell": 0.0}))
    r3.fixed.to["game"] = "vmhost-packard"
    r3.fixed.costs["game"] = {"vmhost-packard": 1.0, "ap-gates": 2.0, "vmhost-gates": 9.0}
    r3.place("game", "vmhost-gates", {})
    d = r3.decide(1.0)["game"]
    assert d.verdict is Verdict.BLOCKED and "vmhost-packard hosts no VMs" in d.why


def test_a_failed_migration_backs_the_hypervisor_off_doubling() -> None:
    r = Rig(Limits(backoff=10.0, backoff_max=25.0))
    r.engine.set_policy("game", follow(dwell=0.0, max_moves=10))   # failures count too
    r.place("game", "vmhost-gates", PACKARD)
    assert r.decide(1.0)["game"].verdict is Verdict.MIGRATE
    r.engine.finished("game", False, "the guest would not start", 2.0)
    d = r.decide(3.0)["game"]
    assert d.verdict is Verdict.BLOCKED
    assert "backing off vmhost-packard for 9 s more after 1 failed migration(s): the guest " \
           "would not start" in d.why
    assert r.decide(12.0)["game"].verdict is Verdict.MIGRATE   # 10 s later
    r.engine.finished("game", False, "again", 12.5)
    assert r.engine.backoff["vmhost-packard"].until == 32.5   # 20 s the second time
    assert r.decide(33.0)["game"].verdict is Verdict.MIGRATE
    r.engine.finished("game", False, "and again", 33.0)
    assert r.engine.backoff["vmhost-packard"].until == 58.0   # at most 25 s
    assert r.decide(58.0)["game"].verdict is Verdict.MIGRATE
    r.engine.finished("game", True, "at last", 59.0)
    assert "vmhost-packard" not in r.engine.backoff
    c = r.engine.counters
    assert (c.started, c.failed, c.succeeded) == (4, 3, 1)


def test_without_an_actuator_the_move_is_only_advised() -> None:
    r = Rig(actuate=False)
    r.engine.set_policy("game", follow(dwell=0.0))
    r.place("game", "vmhost-gates", PACKARD)
    d = r.decide(1.0)["game"]
    assert (d.verdict, d.to) == (Verdict.ADVISE, "vmhost-packard") and not r.engine.moving
    assert "no actuator" in d.why and r.engine.counters.started == 0


def test_a_manager_that_fails_is_an_error_on_its_vms_and_the_engine_carries_on() -> None:
    r = Rig()
    r.engine.set_policy("game", follow(dwell=0.0))
    r.engine.set_policy("batch", Policy("fixed", {"dwell": 0.0}))
    r.place("game", "vmhost-gates", PACKARD)
    r.place("batch", "vmhost-gates", {})
    r.fixed.fail = ZeroDivisionError("division by zero")
    got = r.decide(1.0)
    assert got["batch"].verdict is Verdict.ERROR
    assert got["batch"].why == "mobility manager fixed failed: ZeroDivisionError: division by zero"
    assert got["game"].verdict is Verdict.MIGRATE          # another manager's VM: unaffected
    assert r.engine.counters.manager_errors == {"fixed": 1}
    assert set(r.engine.policies) == {"game", "batch"}     # nothing lost
    r.fixed.fail = None
    r.fixed.to["batch"] = "mars"
    d = r.decide(2.0)["batch"]
    assert d.verdict is Verdict.ERROR and "'mars', which does not exist" in d.why
    r.fixed.to = {}
    assert "proposed nothing" in r.decide(3.0)["batch"].why
    r.fixed.to["batch"] = "vmhost-packard"
    assert r.decide(4.0)["batch"].verdict is Verdict.MIGRATE


def test_policies_are_checked_and_a_bad_one_changes_nothing() -> None:
    r = Rig()
    r.engine.set_policy("game", follow())
    before = dict(r.engine.policies)
    for policy, message in [
        (Policy("nearest"),
         r"no mobility manager .nearest. \(loaded: fixed, follow-clients, pack\)"),
        (Policy("follow-clients", {"threshold": 1.5}), "below 1"),
        (Policy("follow-clients", {"dwel": 3.0}), "takes no parameter 'dwel'"),
        (Policy("follow-clients", {"dwell": -1.0}), "a number >= 0"),
        (Policy("follow-clients", {}, ("vmhost-mars",)), "no hypervisor 'vmhost-mars'"),
        (Policy("follow-clients", {}, ("ap-gates",)), "ap-gates hosts no VMs"),
    ]:
        with pytest.raises(PlacementError, match=message):
            r.engine.set_policy("game", policy)
    with pytest.raises(PlacementError, match="no VM 'nobody'"):
        r.engine.set_policy("nobody", follow(), known=["game"])
    assert r.engine.policies == before
    # A policy kept from before naming a manager not loaded now: its decision says so.
    r.engine.policies["old"] = Policy("gone")
    r.place("old", "vmhost-gates", {})
    assert "no mobility manager 'gone' is loaded" in r.decide(1.0)["old"].why


def test_changed_decisions_are_counted_once() -> None:
    r = Rig()
    r.engine.set_policy("game", follow())
    r.place("game", "vmhost-gates", {"p-core": 100.0, "g-2": 100.0})
    for t in (1.0, 2.0, 3.0):
        r.decide(t)
    assert r.engine.counters.decisions == {"stay": 1}
    before = dict(r.engine.decisions)
    r.place("game", "vmhost-gates", PACKARD)
    got = r.engine.decide(World(r.vms, {}, r.fabric.links, r.fabric.best), 9.0)
    assert [d.vm for d in r.engine.changed(got, before)] == ["game"]
    assert r.engine.counters.decisions == {"stay": 1, "migrate": 1}
    d = got[0].as_json()
    assert d["decision"] == "migrate" and d["cause"] == "placement"
    assert got[0].candidates()[0] == ("vmhost-packard", 100.0)
    assert json.loads(json.dumps(d))["candidates"][0] == {"hypervisor": "vmhost-packard",
                                                          "cost": 100.0}


def test_two_managers_of_one_name_and_a_bad_manager_are_refused() -> None:
    with pytest.raises(PlacementError, match="two mobility managers are called"):
        PlacementEngine([FollowClients(), FollowClients()], {})

    class Nameless:
        name = ""
        params: ClassVar[Mapping[str, float]] = {}

        def propose(self, view: View, vms: Sequence[VMView]) -> list[Proposal]:
            return []

    with pytest.raises(PlacementError, match="non-empty string"):
        PlacementEngine([Nameless()], {})
