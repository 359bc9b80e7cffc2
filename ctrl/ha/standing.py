"""Where one controller stands in the election: pure, the time comes with each event.

A leader holds the leader key under its own live lease; its P4Runtime election id is
(term, 0), the term being the revision of the etcd transaction that made it leader, so a
later leader's id is always higher and the switches fence the earlier one themselves. A
standby's id is (0, low): below every leader's. The lease counts as held until the last
keep-alive that etcd answered was *sent* plus the TTL etcd gave: never later than etcd's
own expiry, so a controller steps down before another can be elected.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

ElectionId = tuple[int, int]


class Role(enum.Enum):
    LEADER = "leader"       # holds the leader key under a live lease
    STANDBY = "standby"     # holds a lease; another controller leads (or none yet)
    NO_LEASE = "no-lease"   # holds no lease: etcd is unreachable, or it expired


@dataclass(slots=True)
class Standing:
    backup_id: ElectionId          # (0, low), unique among this fabric's controllers
    role: Role = Role.NO_LEASE
    term: int = 0                  # the leader's term while LEADER
    lease: int = 0
    lease_until: float = 0.0       # monotonic: the lease is ours until then at most
    leader: str = ""               # who leads, as last read ("" : nobody known)
    note: str = "starting"         # why it stands where it does
    elected: int = 0               # how many times this controller became leader
    stepped_down: int = 0

    def __post_init__(self) -> None:
        if self.backup_id[0] != 0 or self.backup_id[1] <= 0:
            raise ValueError(f"a standby's election id is (0, LOW > 0), not {self.backup_id}")

    @property
    def election_id(self) -> ElectionId:
        return (self.term, 0) if self.role is Role.LEADER else self.backup_id

    @property
    def is_leader(self) -> bool:
        return self.role is Role.LEADER

    def lease_held(self, now: float) -> bool:
        return self.lease != 0 and now < self.lease_until

    # -- events ----------------------------------------------------------------------

    def granted(self, lease: int, ttl: int, sent_at: float) -> None:
        self.lease, self.lease_until = lease, sent_at + ttl
        if self.role is Role.NO_LEASE:
            self.role, self.note = Role.STANDBY, "lease granted"

    def kept_alive(self, ttl: int, sent_at: float) -> bool:
        """etcd answered a keep-alive with `ttl` (0: the lease had expired). False when
        this controller lost its lease (and its leadership, if it led)."""
        if ttl > 0:
            self.lease_until = max(self.lease_until, sent_at + ttl)
            return True
        self._lose("the lease expired in etcd")
        return False

    def unreachable(self, now: float, why: str) -> bool:
        """etcd did not answer; the lease still counts until its local deadline. False
        when that has passed (leadership, if any, given up)."""
        if self.lease_held(now):
            self.note = f"etcd unreachable, lease held for {self.lease_until - now:.2f} s: {why}"
            return True
        self._lose(f"etcd unreachable, no lease: {why}")
        return False

    def check(self, now: float) -> bool:
        """The passing of time: False (and stepped down) once the lease's deadline passed."""
        if self.lease and not self.lease_held(now):
            self._lose("the lease ran out before etcd renewed it")
            return False
        return True

    def won(self, term: int, name: str) -> None:
        if self.role is Role.NO_LEASE:
            raise ValueError("no campaign without a lease")
        self.role, self.term, self.leader = Role.LEADER, term, name
        self.note, self.elected = f"elected in term {term}", self.elected + 1

    def lost(self, leader: str) -> None:
        if self.role is Role.LEADER:
            self._step_down(f"{leader or 'another controller'} leads")
        self.leader = leader
        if self.role is Role.STANDBY:
            self.note = f"standby: {leader or 'another controller'} leads"

    def fenced(self, switch: str) -> None:
        """A switch refused this controller's write as not primary (PERMISSION_DENIED): a
        later leader exists, whatever etcd last said."""
        if self.role is Role.LEADER:
            self._step_down(f"{switch} refused a write: PERMISSION_DENIED")

    def resigned(self) -> None:
        self._lose("resigned")

    def _step_down(self, why: str) -> None:
        self.role, self.term, self.note = Role.STANDBY, 0, why
        self.stepped_down += 1

    def _lose(self, why: str) -> None:
        if self.role is Role.LEADER:
            self.stepped_down += 1
        self.role, self.term, self.lease, self.lease_until, self.note = (
            Role.NO_LEASE, 0, 0, 0.0, why)
