"""Host tracking: learn, move, damp (never ban), duplicates, announced migrations."""

from __future__ import annotations

import pytest

from ctrl.control.hosts import (
    Damping,
    Duplicate,
    Held,
    HostError,
    HostTracker,
    Learned,
    Location,
    Moved,
    Sighting,
    Source,
)

EDGE = {Location("s1", 1), Location("s1", 2), Location("s2", 1), Location("s3", 1)}
FABRIC = Location("s1", 9)
MAC, VNET = 0x020000000001, 10


def tracker(**damping: float) -> HostTracker:
    return HostTracker(lambda loc: loc in EDGE, Damping(**damping))  # type: ignore[arg-type]


def seen(at: Location, t: float, source: Source = Source.ARP, ip: int | None = None) -> Sighting:
    return Sighting(VNET, MAC, ip, at, t, source)


def test_learn_then_move() -> None:
    tr = tracker()
    [ev] = tr.observe(seen(Location("s1", 1), 0.0, ip=0x0A000001))
    assert isinstance(ev, Learned) and ev.host.ip == 0x0A000001
    assert tr.observe(seen(Location("s1", 1), 1.0)) == []
    [ev] = tr.observe(seen(Location("s2", 1), 5.0, Source.RARP))
    assert isinstance(ev, Moved)
    assert (ev.old, ev.new) == (Location("s1", 1), Location("s2", 1))
    assert tr.get(VNET, MAC).location == Location("s2", 1)


def test_fabric_ports_say_nothing() -> None:
    tr = tracker()
    assert tr.observe(seen(FABRIC, 0.0)) == []
    assert len(tr) == 0


def test_same_mac_in_two_vnets_is_two_hosts() -> None:
    tr = tracker()
    tr.observe(seen(Location("s1", 1), 0.0))
    tr.observe(Sighting(VNET + 1, MAC, None, Location("s2", 1), 0.0, Source.ARP))
    assert len(tr) == 2


def test_flapping_is_damped_then_accepted_never_banned() -> None:
    tr = tracker(max_moves=2, window=10.0, hold=2.0, duplicate_window=0.0)
    places = [Location("s1", 1), Location("s2", 1), Location("s3", 1), Location("s1", 2)]
    tr.observe(seen(places[0], 0.0))
    assert isinstance(tr.observe(seen(places[1], 1.0, Source.RARP))[0], Moved)
    assert isinstance(tr.observe(seen(places[2], 2.0, Source.RARP))[0], Moved)
    [ev] = tr.observe(seen(places[3], 3.0, Source.RARP))
    assert isinstance(ev, Held) and ev.until == 5.0
    assert tr.get(VNET, MAC).location == places[2]
    assert tr.tick(4.0) == []
    [ev] = tr.tick(5.0)
    assert isinstance(ev, Moved) and ev.new == places[3]


def test_held_move_is_accepted_by_a_later_sighting_after_the_hold() -> None:
    tr = tracker(max_moves=1, window=10.0, hold=1.0, duplicate_window=0.0)
    tr.observe(seen(Location("s1", 1), 0.0))
    tr.observe(seen(Location("s2", 1), 0.5))
    assert isinstance(tr.observe(seen(Location("s3", 1), 1.0))[0], Held)
    assert tr.observe(seen(Location("s3", 1), 1.5)) == []
    [ev] = tr.observe(seen(Location("s3", 1), 2.5))
    assert isinstance(ev, Moved)


def test_duplicate_mac_is_reported_not_flipped() -> None:
    tr = tracker(duplicate_window=1.0)
    tr.observe(seen(Location("s1", 1), 0.0))
    tr.observe(seen(Location("s2", 1), 10.0))
    [ev] = tr.observe(seen(Location("s1", 1), 10.5))  # the old place answers again at once
    assert isinstance(ev, Duplicate) and ev.other == Location("s1", 1)
    assert tr.get(VNET, MAC).location == Location("s2", 1)
    # A RARP from there is a real migration back: it wins.
    assert isinstance(tr.observe(seen(Location("s1", 1), 10.7, Source.RARP))[0], Moved)


def test_announced_migration_skips_damping() -> None:
    tr = tracker(max_moves=0)
    tr.observe(seen(Location("s1", 1), 0.0))
    tr.expect(VNET, MAC, Location("s3", 1))
    [ev] = tr.observe(seen(Location("s3", 1), 1.0, Source.RARP))
    assert isinstance(ev, Moved) and tr.get(VNET, MAC).expected is None


def test_declare_and_errors() -> None:
    tr = tracker()
    assert isinstance(tr.declare(VNET, MAC, 7, Location("s1", 1), 0.0), Learned)
    assert isinstance(tr.declare(VNET, MAC, None, Location("s2", 1), 1.0), Moved)
    assert tr.find_ip(VNET, 7) is tr.get(VNET, MAC)
    with pytest.raises(HostError, match="not an edge port"):
        tr.declare(VNET, MAC, None, FABRIC, 2.0)
    with pytest.raises(HostError, match="no host with MAC 020000000002"):
        tr.expect(VNET, MAC + 1, Location("s1", 1))
    with pytest.raises(LookupError):
        tr.get(VNET + 5, MAC)
