"""GRE tunnels on demand: up both ways when needed, re-homed, released when idle."""

from __future__ import annotations

from ctrl.control.tunnels import TunnelUsage


def test_up_both_ways_once() -> None:
    t = TunnelUsage(idle=10)
    assert t.bring_up(("a", "b"), now=0)
    assert t.up == {("a", "b"), ("b", "a")}
    assert not t.bring_up(("b", "a"), now=1)   # already up: nothing to write


def test_released_only_when_the_counter_stops() -> None:
    t = TunnelUsage(idle=10)
    t.bring_up(("a", "b"), now=0)
    t.observe(("a", "b"), 5, now=4)
    t.observe(("b", "a"), 0, now=4)
    assert t.idle_since(now=13) == []            # a->b moved at 4, b->a first read at 4
    t.observe(("a", "b"), 9, now=13)             # still carrying traffic
    t.observe(("b", "a"), 0, now=13)             # has not moved since 4
    assert t.idle_since(now=14) == [("b", "a")]
    t.release([("b", "a")])
    assert t.up == {("a", "b")}
    t.observe(("b", "a"), 0, now=15)             # a released tunnel is not watched
    assert t.idle_since(now=23) == [("a", "b")]


def test_rehome_follows_the_vm_to_its_new_site() -> None:
    t = TunnelUsage(idle=10)
    t.bring_up(("a", "b"), now=0)
    t.bring_up(("c", "b"), now=0)
    assert t.rehome("b", "c", now=1)  # the VM left b's site for c's
    assert ("a", "c") in t.up and ("c", "a") in t.up
    assert ("c", "c") not in t.up
    assert not t.rehome("b", "c", now=2)
