from __future__ import annotations

import pytest

from ctrl.ha.standing import Role, Standing


def role(s: Standing) -> Role:
    return s.role   # read again: mypy would keep the narrowing across calls


def test_a_leader_outranks_every_standby_and_earlier_leader() -> None:
    a, b = Standing((0, 1)), Standing((0, 2))
    for s in (a, b):
        s.granted(lease=7, ttl=1, sent_at=0.0)
    assert a.role is b.role is Role.STANDBY
    a.won(term=5, name="a")
    b.lost("a")
    assert a.election_id == (5, 0) > b.election_id == (0, 2)
    assert a.check(0.9) and not a.check(1.0)   # the lease's local deadline
    assert role(a) is Role.NO_LEASE and a.election_id == (0, 1) and a.stepped_down == 1
    b.kept_alive(1, sent_at=0.8)
    b.won(term=9, name="b")
    assert b.election_id > (5, 0)


def test_expired_lease_fenced_write_and_unreachable_etcd_step_down() -> None:
    s = Standing((0, 1))
    s.granted(1, 1, 0.0)
    s.won(3, "me")
    assert s.unreachable(0.5, "refused") and s.is_leader       # within the lease
    assert not s.unreachable(1.2, "refused") and role(s) is Role.NO_LEASE
    s.granted(2, 1, 2.0)
    s.won(4, "me")
    s.fenced("s1")
    assert role(s) is Role.STANDBY and s.election_id == (0, 1) and "s1" in s.note
    s.won(5, "me")
    assert not s.kept_alive(0, 2.5) and role(s) is Role.NO_LEASE


def test_no_campaign_without_a_lease_and_ids_checked() -> None:
    s = Standing((0, 1))
    with pytest.raises(ValueError):
        s.won(1, "me")
    with pytest.raises(ValueError):
        Standing((1, 1))
