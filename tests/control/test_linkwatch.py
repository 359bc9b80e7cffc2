"""Links as LLDP says: heard, silent, judged (the core's tests drive it through frames)."""

from __future__ import annotations

from ctrl.control.linkwatch import LLDP_FRAMES_PER_S, LinkWatch, lldp_interval_for
from ctrl.control.topology import parse_topology
from ctrl.lab.fattree import fat_tree_topology
from ctrl.punt.classify import LinkProbe
from ctrl.punt.lldp import LldpInfo

TOPO = """\
switches: {s1: {}, s2: {}, s3: {}}
links:
  - [s1:1, s2:1]
  - [s2:2, s3:1]
"""


def watch() -> LinkWatch:
    w = LinkWatch(parse_topology(TOPO, addresses=False), interval=0.5)
    for sw in ("s1", "s2", "s3"):
        w.switch_state(sw, True, (), 0.0)
    return w


def probe(port: int, chassis: str, their_port: int) -> LinkProbe:
    return LinkProbe(port, LldpInfo(chassis, their_port, 120))


def test_a_link_silent_for_three_intervals_is_down_and_heard_again_is_up() -> None:
    w = watch()
    w.heard("s2", probe(1, "s1", 1), 0.0)
    w.heard("s3", probe(1, "s2", 2), 0.5)
    assert w.judged(set(), 1.4) == set()
    [down] = w.judged(set(), 1.6)
    assert (str(down.a), str(down.b)) == ("s1:1", "s2:1")
    assert len(w.judged({down}, 2.1)) == 2
    w.heard("s2", probe(1, "s1", 1), 2.2)
    assert {str(x.a) for x in w.judged({down}, 2.3)} == {"s2:2"}


def test_not_judging_keeps_links_up_and_lets_those_heard_come_back() -> None:
    w = watch()
    w.heard("s2", probe(1, "s1", 1), 0.0)
    assert w.judged(set(), 9.0, judge=False) == set()   # behind on packet-ins: no verdict
    down = w.judged(set(), 9.0)
    w.heard("s2", probe(1, "s1", 1), 9.5)
    assert w.judged(down, 9.6, judge=False) == set()


def test_a_switch_away_keeps_its_links_and_back_they_get_a_fresh_interval() -> None:
    w = watch()
    w.heard("s2", probe(1, "s1", 1), 0.0)
    w.switch_state("s2", False, (), 0.5)
    assert w.judged(set(), 5.0) == set()          # an end we cannot reach: no verdict
    w.switch_state("s2", True, (), 6.0)
    assert w.judged(set(), 7.0) == set()
    assert len(w.judged(set(), 7.6)) == 1


def test_lldp_that_matches_no_link_is_ignored() -> None:
    w = watch()
    w.heard("s3", probe(2, "s1", 1), 0.0)         # s3:2 is on no link
    w.heard("s2", probe(1, "s3", 1), 0.0)         # s2:1's link does not end at s3:1
    assert w.seen == {}


def test_the_interval_is_paced_for_big_fabrics() -> None:
    small = parse_topology(TOPO, addresses=False)
    assert lldp_interval_for(small, 0.5) == 0.5 and lldp_interval_for(small, 0) == 0.0
    big = fat_tree_topology(16)   # 2,048 links: 4,096 frames an interval at most 500/s
    assert lldp_interval_for(big, 0.5) == 4096 / LLDP_FRAMES_PER_S
