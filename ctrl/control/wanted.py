"""Every switch's wanted entries, kept up to date piece by piece. Pure.

Each entry has owners: the switch's base state, a VM, a port readied for an
announced arrival. When a VM moves, only its own entries are recomputed
(`set(owner, ...)`), and what changed comes back as one Diff per switch: the
cost of a move follows the switches, not the number of VMs. An entry stays
while any owner wants it; where two owners want one key with different
actions (two VMs claiming one IPv4 address), the one that has wanted it
longest wins. Without such clashes it equals Planner.wanted at every step.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

from ctrl.control.diff import Diff, same
from ctrl.p4rt.entity import Entity, delete, insert, modify

Owner = Hashable
Key = Hashable


class WantedState:
    def __init__(self) -> None:
        self._entries: dict[str, dict[Key, dict[Owner, Entity]]] = {}
        self._owned: dict[Owner, dict[str, list[Key]]] = {}

    def entities(self, switch: str) -> list[Entity]:
        return [next(iter(owners.values()))
                for owners in self._entries.get(switch, {}).values()]

    def switches(self) -> list[str]:
        return list(self._entries)

    def owners(self) -> list[Owner]:
        return list(self._owned)

    def _current(self, switch: str, key: Key) -> Entity | None:
        owners = self._entries.get(switch, {}).get(key)
        return next(iter(owners.values())) if owners else None

    def set(self, owner: Owner, per_switch: Mapping[str, Iterable[Entity]]) -> dict[str, Diff]:
        """`owner` wants exactly these entries from now on; what that changed, by switch."""
        return self.set_many([(owner, per_switch)])

    def set_many(self, wants: Iterable[tuple[Owner, Mapping[str, Iterable[Entity]]]]
                 ) -> dict[str, Diff]:
        """Several owners' new wants, in order; the net change of all of them, by switch
        (one update per entry at most: a batch's updates may be applied in any order)."""
        before: dict[tuple[str, Key], Entity | None] = {}
        for owner, per_switch in wants:
            old = self._owned.pop(owner, {})
            new: dict[str, dict[Key, Entity]] = {}
            for switch, entities in per_switch.items():
                mine: dict[Key, Entity] = {}
                for e in entities:
                    mine.setdefault(e.key(), e)
                if mine:
                    new[switch] = mine
            for t in [(sw, k) for sw, keys in old.items() for k in keys] + [
                    (sw, k) for sw, mine in new.items() for k in mine]:
                if t not in before:
                    before[t] = self._current(*t)
            for switch, keys in old.items():
                table = self._entries[switch]
                for k in keys:
                    owners = table[k]
                    del owners[owner]
                    if not owners:
                        del table[k]
            for switch, mine in new.items():
                table = self._entries.setdefault(switch, {})
                for k, e in mine.items():
                    table.setdefault(k, {})[owner] = e
            if new:
                self._owned[owner] = {sw: list(mine) for sw, mine in new.items()}
        changes: dict[str, tuple[list[Entity], list[Entity], list[Entity]]] = {}
        for (switch, k), was in before.items():
            now = self._current(switch, k)
            ins, mod, dele = changes.setdefault(switch, ([], [], []))
            if was is None and now is not None:
                ins.append(now)
            elif was is not None and now is None:
                dele.append(was)
            elif was is not None and now is not None and not same(was, now):
                mod.append(now)
        return {sw: Diff(tuple(map(insert, i)), tuple(map(modify, m)), tuple(map(delete, d)))
                for sw, (i, m, d) in changes.items() if i or m or d}

    def drop(self, owner: Owner) -> dict[str, Diff]:
        return self.set(owner, {})

    def replace(self, wants: Iterable[tuple[Owner, Mapping[str, Iterable[Entity]]]]
                ) -> dict[str, Diff]:
        """Exactly these owners from now on (every other one dropped): everything
        planned again, and only what that changed comes out."""
        wants = list(wants)
        given = {owner for owner, _ in wants}
        return self.set_many(wants + [(o, {}) for o in self.owners() if o not in given])
