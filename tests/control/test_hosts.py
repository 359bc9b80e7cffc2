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
    Moved,
    Sighting,
    Source,
)
from ctrl.control.topology import PortRef

EDGE = {PortRef("s1", 1), PortRef("s1", 2), PortRef("s2", 1), PortRef("s3", 1)}
FABRIC = PortRef("s1", 9)
MAC, VNET = 0x020000000001, 10


def tracker(**damping: float) -> HostTracker:
    return HostTracker(lambda loc: loc in EDGE, Damping(**damping))  # type: ignore[arg-type]


def seen(at: PortRef, t: float, source: Source = Source.ARP, ip: int | None = None) -> Sighting:
    return Sighting(VNET, MAC, ip, at, t, source)


def test_learn_then_move() -> None:
    tr = tracker()
    [ev] = tr.observe(seen(PortRef("s1", 1), 0.0, ip=0x0A000001))
    assert isinstance(ev, Learned) and ev.host.ip == 0x0A000001
    assert tr.observe(seen(PortRef("s1", 1), 1.0)) == []
    [ev] = tr.observe(seen(PortRef("s2", 1), 5.0, Source.RARP))
    assert isinstance(ev, Moved)
    assert (ev.old, ev.new) == (PortRef("s1", 1), PortRef("s2", 1))
    assert tr.get(VNET, MAC).location == PortRef("s2", 1)


def test_fabric_ports_say_nothing() -> None:
    tr = tracker()
    assert tr.observe(seen(FABRIC, 0.0)) == []
    assert len(tr) == 0


def test_same_mac_in_two_vnets_is_two_hosts() -> None:
    tr = tracker()
    tr.observe(seen(PortRef("s1", 1), 0.0))
    tr.observe(Sighting(VNET + 1, MAC, None, PortRef("s2", 1), 0.0, Source.ARP))
    assert len(tr) == 2


def test_flapping_is_damped_then_accepted_never_banned() -> None:
    tr = tracker(max_moves=2, window=10.0, hold=2.0, duplicate_window=0.0)
    places = [PortRef("s1", 1), PortRef("s2", 1), PortRef("s3", 1), PortRef("s1", 2)]
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
    tr.observe(seen(PortRef("s1", 1), 0.0))
    tr.observe(seen(PortRef("s2", 1), 0.5))
    assert isinstance(tr.observe(seen(PortRef("s3", 1), 1.0))[0], Held)
    assert tr.observe(seen(PortRef("s3", 1), 1.5)) == []
    [ev] = tr.observe(seen(PortRef("s3", 1), 2.5))
    assert isinstance(ev, Moved)


def test_duplicate_mac_is_reported_not_flipped() -> None:
    tr = tracker(duplicate_window=1.0)
    tr.observe(seen(PortRef("s1", 1), 0.0))
    tr.observe(seen(PortRef("s2", 1), 10.0))
    [ev] = tr.observe(seen(PortRef("s1", 1), 10.5))  # the old place answers again at once
    assert isinstance(ev, Duplicate) and ev.other == PortRef("s1", 1)
    assert tr.get(VNET, MAC).location == PortRef("s2", 1)
    # A RARP from there is a real migration back: it wins.
    assert isinstance(tr.observe(seen(PortRef("s1", 1), 10.7, Source.RARP))[0], Moved)


def test_announced_migration_skips_damping_and_the_duplicate_check() -> None:
    expected: dict[tuple[int, int], PortRef] = {}
    tr = HostTracker(EDGE.__contains__, Damping(max_moves=0, duplicate_window=5.0),
                     expected=expected.get)
    tr.observe(seen(PortRef("s1", 1), 0.0))
    [held] = tr.observe(seen(PortRef("s3", 1), 0.5))          # not expected: damped
    assert isinstance(held, Held)
    expected[VNET, MAC] = PortRef("s3", 1)
    [ev] = tr.observe(seen(PortRef("s3", 1), 1.0, Source.ARP))  # expected: at once
    assert isinstance(ev, Moved) and tr.held_until() is None
    expected[VNET, MAC] = PortRef("s1", 1)                       # and back, announced
    [back] = tr.observe(seen(PortRef("s1", 1), 1.1, Source.GARP))
    assert isinstance(back, Moved) and back.new == PortRef("s1", 1)


def test_declare_and_errors() -> None:
    tr = tracker()
    assert isinstance(tr.declare(VNET, MAC, 7, PortRef("s1", 1), 0.0), Learned)
    assert isinstance(tr.declare(VNET, MAC, None, PortRef("s2", 1), 1.0), Moved)
    assert tr.find_ip(VNET, 7) is tr.get(VNET, MAC)
    with pytest.raises(HostError, match="not an edge port"):
        tr.declare(VNET, MAC, None, FABRIC, 2.0)
    with pytest.raises(HostError, match="no host with MAC 020000000002"):
        tr.get(VNET, MAC + 1)
    with pytest.raises(LookupError):
        tr.get(VNET + 5, MAC)


def test_a_host_has_one_key_and_shares_its_port() -> None:
    """Sized for 100,000: every index holds the host's own key tuple, and hosts at one
    port hold that port's one PortRef (read-backs and sightings make one each)."""
    tr = tracker()
    tr.observe(seen(PortRef("s1", 1), 0.0, ip=0x0A000001))
    tr.declare(VNET, MAC + 1, 0x0A000002, PortRef("s1", 1), 0.0)
    a, b = tr.get(VNET, MAC), tr.get(VNET, MAC + 1)
    assert a.location is b.location and (a.vnet, a.mac) == a.key == (VNET, MAC)
    assert tr.find_ip(VNET, 0x0A000002) is b and tr.find_ip(VNET + 1, 0x0A000002) is None
    tr.observe(seen(PortRef("s2", 1), 1.0, Source.RARP))
    tr.declare(VNET, MAC + 1, None, PortRef("s2", 1), 1.0)
    assert a.location is b.location == PortRef("s2", 1)
    assert a.key is tr.get(VNET, MAC).key


def test_with_mac_finds_it_in_every_network_it_is_in() -> None:
    tr = tracker()
    tr.observe(seen(PortRef("s1", 1), 0.0))
    tr.observe(Sighting(VNET + 1, MAC, None, PortRef("s2", 1), 0.0, Source.ARP))
    tr.observe(Sighting(VNET + 2, MAC + 1, None, PortRef("s3", 1), 0.0, Source.ARP))
    assert sorted(h.vnet for h in tr.with_mac(MAC)) == [VNET, VNET + 1]
    assert [h.vnet for h in tr.with_mac(MAC + 1)] == [VNET + 2]
    assert tr.with_mac(MAC + 2) == []


def test_confirmed_is_a_mark_of_known_hosts() -> None:
    tr = tracker()
    tr.observe(seen(PortRef("s1", 1), 0.0))
    assert (VNET, MAC) not in tr.confirmed and (VNET, MAC + 1) not in tr.confirmed
    tr.confirmed.add((VNET, MAC))
    assert (VNET, MAC) in tr.confirmed and tr.get(VNET, MAC).confirmed
    tr.observe(seen(PortRef("s2", 1), 1.0, Source.RARP))   # a move keeps it
    assert (VNET, MAC) in tr.confirmed
    with pytest.raises(KeyError):
        tr.confirmed.add((VNET, MAC + 1))                 # no such host: nothing marked
