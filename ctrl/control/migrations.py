"""The lifecycle of announced migrations: one explicit state machine, one record per VM. Pure.

An operator (`ctrl migrate`) or a hypervisor's event announces that a VM is about
to move; the network gets ready before the VM arrives. Each migration is a
`Migration` record whose `phase` changes only here:

| from       | event                                      | to          | the network            |
|------------|--------------------------------------------|-------------|------------------------|
| (none)     | announce                                   | ANNOUNCED   | new port ready; frames |
|            |                                            |             | delivered at both ends |
| ANNOUNCED  | the VM seen at its destination (RARP)      | DONE        | one location, the new  |
| ANNOUNCED  | switch-over (the VM paused at its source)  | SWITCHED    | the new location only  |
| SWITCHED   | the VM seen at its destination (RARP)      | DONE        | as it is               |
| SWITCHED   | no sighting within the time-out            | DONE        | as it is               |
| ANNOUNCED  | cancel, or another announcement            | CANCELLED   | the old location only  |
| SWITCHED   | cancel (the migration failed after all)    | CANCELLED   | back to the old place  |
| ANNOUNCED  | no sighting within the time-out            | EXPIRED     | the old location only  |
| any active | the VM seen somewhere else                 | CANCELLED   | where it was seen      |

Finished migrations are kept, newest last, for the API and the journal. The
records are plain values (no references to hosts), so a store (etcd, for a
standby controller) can keep them as they are.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace

from ctrl.control.hosts import HostError
from ctrl.control.topology import PortRef

HostKey = tuple[int, int]  # (virtual network, MAC)


class Phase(enum.Enum):
    ANNOUNCED = "announced"
    SWITCHED = "switched-over"
    DONE = "done"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def active(self) -> bool:
        return self in (Phase.ANNOUNCED, Phase.SWITCHED)


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration of one VM: from `src` to `dst`; `group` is the multicast group its
    frames use where they are delivered at both locations (ANNOUNCED)."""

    vnet: int
    mac: int
    src: PortRef
    dst: PortRef
    group: int
    phase: Phase
    announced: float          # when it was announced
    changed: float            # when it entered its phase
    note: str = ""            # why it ended, for a finished one
    cause: str = ""           # who asked for it: "operator", "hypervisor", "placement", ...

    @property
    def key(self) -> HostKey:
        return self.vnet, self.mac


class Migrations:
    """Every VM's migration under way, and the latest finished ones."""

    def __init__(self, timeout: float, keep: int = 256) -> None:
        self.timeout = timeout
        self._active: dict[HostKey, Migration] = {}
        self.finished: deque[Migration] = deque(maxlen=keep)

    def __len__(self) -> int:
        return len(self._active)

    def __iter__(self) -> Iterator[Migration]:
        return iter(sorted(self._active.values(), key=lambda m: m.key))

    def get(self, key: HostKey) -> Migration | None:
        return self._active.get(key)

    # -- what the planner and the tracker read ----------------------------------------

    def delivering_both(self, key: HostKey) -> Migration | None:
        """The migration whose VM's frames go to both locations (ANNOUNCED), if any."""
        m = self._active.get(key)
        return m if m is not None and m.phase is Phase.ANNOUNCED else None

    def expected(self, key: HostKey) -> PortRef | None:
        """Where the VM is expected: its next sighting there is accepted at once."""
        m = self.delivering_both(key)
        return None if m is None else m.dst

    def provisioned(self) -> dict[PortRef, int]:
        """The ports readied for a VM announced to arrive there: port -> virtual network."""
        return {m.dst: m.vnet for m in self._active.values() if m.phase is Phase.ANNOUNCED}

    # -- transitions ------------------------------------------------------------------

    def restore(self, m: Migration) -> None:
        """A migration another controller had under way (HA: taken over as it was)."""
        if m.phase.active:
            self._active[m.key] = m

    def announce(self, key: HostKey, src: PortRef, dst: PortRef, now: float, cause: str = ""
                 ) -> tuple[Migration, Migration | None]:
        """A new migration to `dst`, and the one it replaces (announced elsewhere before).
        Announcing the same destination again is not a change: HostError says so only
        for a VM already there."""
        if src == dst:
            raise HostError(f"the VM is already at {dst}")
        old = self._active.get(key)
        if old is not None and old.phase is Phase.ANNOUNCED and old.dst == dst:
            return old, None
        replaced = None
        if old is not None:
            replaced = self._end(old, Phase.CANCELLED, now, f"announced again, to {dst}")
        used = {m.group for m in self._active.values()}
        group = next(g for g in range(1, len(used) + 2) if g not in used)
        m = Migration(key[0], key[1], src, dst, group, Phase.ANNOUNCED, now, now, cause=cause)
        self._active[key] = m
        return m, replaced

    def switch_over(self, key: HostKey, now: float) -> Migration:
        m = self._active.get(key)
        if m is None or m.phase is not Phase.ANNOUNCED:
            raise HostError("no migration under way" if m is None
                            else "its migration is switched over already")
        m = replace(m, phase=Phase.SWITCHED, changed=now)
        self._active[key] = m
        return m

    def cancel(self, key: HostKey, now: float, why: str = "cancelled") -> Migration:
        """The migration will not happen; the record says where the VM was (`src`)."""
        m = self._active.get(key)
        if m is None:
            raise HostError("no migration under way")
        return self._end(m, Phase.CANCELLED, now, why)

    def seen(self, key: HostKey, at: PortRef, now: float) -> Migration | None:
        """The VM is at `at` now (a sighting the tracker accepted): at its destination
        the migration is done; anywhere but the source of an announced one it is over
        (it went back, or elsewhere). The migration this ended, if any."""
        m = self._active.get(key)
        if m is None or (at == m.src and m.phase is Phase.ANNOUNCED):
            return None
        if at == m.dst:
            return self._end(m, Phase.DONE, now, "seen at its destination")
        return self._end(m, Phase.CANCELLED, now, f"seen at {at} instead")

    def expire(self, now: float) -> list[Migration]:
        """Migrations past their time-out: an announced one is undone (EXPIRED), a switched
        one is taken as done (the network already delivers at the new place)."""
        out = []
        for m in [m for m in self._active.values() if now - m.changed >= self.timeout]:
            if m.phase is Phase.ANNOUNCED:
                out.append(self._end(m, Phase.EXPIRED, now,
                                     f"no sighting at {m.dst} in {self.timeout:.0f} s"))
            else:
                out.append(self._end(m, Phase.DONE, now, "switched over; no sighting since"))
        return out

    def next_deadline(self) -> float | None:
        return min((m.changed + self.timeout for m in self._active.values()), default=None)

    def _end(self, m: Migration, phase: Phase, now: float, note: str) -> Migration:
        del self._active[m.key]
        done = replace(m, phase=phase, changed=now, note=note)
        self.finished.append(done)
        return done
