"""Wanted state against installed state: the fewest updates that make one into the other.

Entities are matched by their P4Runtime key (table + match + priority, or the
multicast group id); an entity whose key is in both but whose action differs is
a MODIFY. Nothing is written for an entity that is already as wanted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ctrl.p4rt.entity import Entity, MulticastGroupEntry, TableEntry, Update, delete, insert, modify


def same(a: Entity, b: Entity) -> bool:
    """Whether two entities with one key need no MODIFY between them."""
    if isinstance(a, TableEntry) and isinstance(b, TableEntry):
        return a.action == b.action and dict(a.params) == dict(b.params)
    if isinstance(a, MulticastGroupEntry) and isinstance(b, MulticastGroupEntry):
        return sorted(a.replicas, key=lambda r: (r.port, r.instance)) == sorted(
            b.replicas, key=lambda r: (r.port, r.instance))
    return False


@dataclass(frozen=True, slots=True)
class Diff:
    inserts: tuple[Update, ...]
    modifies: tuple[Update, ...]
    deletes: tuple[Update, ...]

    def __len__(self) -> int:
        return len(self.inserts) + len(self.modifies) + len(self.deletes)

    def updates(self) -> list[Update]:
        """Make-before-break on one switch: add and change first, remove last."""
        return [*self.inserts, *self.modifies, *self.deletes]


def diff(wanted: Iterable[Entity], installed: Iterable[Entity]) -> Diff:
    have = {e.key(): e for e in installed}
    want = {e.key(): e for e in wanted}
    inserts = tuple(insert(e) for k, e in want.items() if k not in have)
    modifies = tuple(modify(e) for k, e in want.items() if k in have and not same(e, have[k]))
    deletes = tuple(delete(e) for k, e in have.items() if k not in want)
    return Diff(inserts, modifies, deletes)
