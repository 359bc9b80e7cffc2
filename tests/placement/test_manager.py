"""The plug-in interface: `module:Class` loaded or refused with a reason; the docstring's
example runs as it is written; a researcher's manager works with the engine."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from ctrl.placement import manager
from ctrl.placement.engine import Limits, Placed, PlacementEngine, Target, Verdict, World
from ctrl.placement.manager import PlacementError, Policy, Ranked, VMView, load_manager


def test_a_manager_is_loaded_by_module_and_class() -> None:
    m = load_manager("tests.placement.plugins:Nearest")
    assert m.name == "nearest" and dict(m.params) == {}
    assert load_manager("ctrl.placement.follow:FollowClients").name == "follow-clients"


@pytest.mark.parametrize(("spec", "message"), [
    ("tests.placement.plugins", "give it as module:Class"),
    ("tests.placement.nothere:X", "cannot import tests.placement.nothere"),
    ("tests.placement.plugins:Missing", "has no Missing"),
    ("tests.placement.plugins:broken_factory", "failed to start: OSError"),
    ("tests.placement.plugins:NotAManager", "needs `name`, `params` and `propose"),
])
def test_what_cannot_be_loaded_says_why(spec: str, message: str) -> None:
    with pytest.raises(PlacementError, match=re.escape(message)):
        load_manager(spec)


def example_class() -> Any:
    """The class in manager.py's docstring, run as written."""
    doc = manager.__doc__ or ""
    start = doc.index("    from collections.abc")
    end = doc.index("Load it with")
    code = "\n".join(line[4:] for line in doc[start:end].splitlines())
    assert 25 <= len(code.strip().splitlines()) <= 60
    scope: dict[str, Any] = {}
    exec(compile(code, "manager.py docstring", "exec"), scope)
    return scope["Spread"]


def world(places: Mapping[str, str]) -> World:
    def links(a: str, b: str) -> int:
        return 0 if a == b else 1

    def best(vms: Sequence[VMView], hyps: Mapping[str, Any]) -> list[Ranked]:
        return [Ranked(None, 0.0, 0.0, {}) for _ in vms]

    return World({vm: Placed(vm, h, f"sw-{h}", 0.0) for vm, h in places.items()}, {},
                 links, best)


def test_the_docstring_example_works_with_the_engine() -> None:
    spread = example_class()()
    targets = {h: Target(h, f"sw-{h}", "default", 8) for h in ("h1", "h2", "h3")}
    engine = PlacementEngine([spread], targets, Limits(concurrent=10))
    places = {"a": "h1", "b": "h1", "c": "h1", "d": "h2"}
    for vm in places:
        engine.set_policy(vm, Policy("spread", {"dwell": 0.0, "margin": 2.0}))
    got = {d.vm: d for d in engine.decide(world(places), 1.0)}
    # h1 holds 3 (2 others for each of its VMs), h3 none: the margin of 2 is met for a,
    # which goes to h3; then h1 holds 1 other for b and c, h2 and h3 one each: they stay.
    assert [(d.vm, d.to) for d in got.values() if d.verdict is Verdict.MIGRATE] == [
        ("a", "h3")]
    assert got["b"].verdict is Verdict.STAY and "within 2" in got["b"].why
    assert got["d"].verdict is Verdict.STAY


def test_a_researchers_manager_and_a_broken_one_side_by_side() -> None:
    nearest = load_manager("tests.placement.plugins:Nearest")
    broken = load_manager("tests.placement.plugins:Broken")
    targets = {h: Target(h, f"sw-{h}", "default") for h in ("h1", "h2")}
    engine = PlacementEngine([nearest, broken], targets)
    engine.set_policy("a", Policy("nearest", {"dwell": 0.0}))
    engine.set_policy("b", Policy("broken"))
    w = world({"a": "h1", "b": "h1"})
    w.vms["a"] = Placed("a", "h1", "sw-h1", 0.0, demand={"sw-h2": 10.0})  # type: ignore[index]
    got = {d.vm: d for d in engine.decide(w, 1.0)}
    assert (got["a"].verdict, got["a"].to) == (Verdict.MIGRATE, "h2")
    assert got["b"].verdict is Verdict.ERROR and "RuntimeError: the researcher's bug" in \
        got["b"].why
