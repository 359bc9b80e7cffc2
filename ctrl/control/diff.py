"""Wanted state against installed state: the fewest updates that make one into the other.

Entities are matched by their P4Runtime key (table + match + priority, or the
multicast group id); an entity whose key is in both but whose action differs is
a MODIFY. Nothing is written for an entity that is already as wanted. Diffs
compose (one after the other, as one), and `settle` rebases a Diff made against
one belief of a switch onto what the switch is known to hold now.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from ctrl.p4rt.entity import (
    Entity,
    MulticastGroupEntry,
    TableEntry,
    Update,
    UpdateType,
    delete,
    insert,
    modify,
)

Key = object  # an entity's key(): hashable, unique per entry of a switch
W = TypeVar("W")   # where an installed entry is, for `diff_keyed` to make its entity


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


def diff_keyed(wanted: Iterable[Entity] | Compact,
               installed: Mapping[Hashable, Hashable | None],
               where: Mapping[Hashable, W],
               compact: Callable[[Entity], tuple[Hashable, Hashable | None]],
               entity: Callable[[W], Entity]) -> Diff:
    """`diff`, the installed entries given as their compact values by compact key, and
    where each is, and `compact` making an entity's (key and value: equal where key()
    and `same` say equal; a value None compares the entities): the same updates, and an
    installed entry made an entity (`entity(where)`) only to be deleted or compared as
    one. `wanted` given as a Compact (its pairs, and its entities made by index) has its
    entities made only to be written or compared whole."""
    if isinstance(wanted, Compact):
        pairs, make = wanted.pairs, wanted.make   # (a bound method)
    else:
        made = list(wanted)
        pairs = list(map(compact, made))

        def make(i: int) -> Entity:
            return made[i]
    values = dict(pairs)
    if len(values) == len(installed) and values == installed \
            and None not in values.values():
        return Diff((), (), ())   # (a switch already as wanted: no entry made)
    want: dict[Hashable, tuple[Hashable | None, int]] = {}
    for i, (k, v) in enumerate(pairs):
        want[k] = (v, i)
    inserts: list[Update] = []
    modifies: list[Update] = []
    for k, (v, i) in want.items():
        if k not in installed:
            inserts.append(insert(make(i)))
        elif (v != have if v is not None and (have := installed[k]) is not None
              else not same(make(i), entity(where[k]))):
            modifies.append(modify(make(i)))
    deletes = tuple(delete(entity(where[k])) for k in installed if k not in want)
    return Diff(tuple(inserts), tuple(modifies), deletes)


@runtime_checkable
class Compact(Protocol):
    """Wanted entries as compact (key, value) pairs (see diff_keyed) and their entities
    made by index (ctrl/control/compactwant.py)."""

    pairs: list[tuple[Hashable, Hashable | None]]

    def make(self, i: int) -> Entity: ...


def compose(first: Diff, then: Diff) -> Diff:
    """One Diff with the net effect of `first`, then `then`, on the state `first` was
    made against: an entry inserted then deleted is nothing, inserted then modified an
    insert of the last, and so on."""
    return compose_all((first, then))


def compose_all(diffs: Sequence[Diff]) -> Diff:
    """`compose` of several, in order, in one pass."""
    if len(diffs) == 1:
        return diffs[0]
    existed: dict[Key, bool] = {}
    target: dict[Key, tuple[Entity, bool]] = {}   # key -> (entity, present after)
    for u in (u for d in diffs for u in d.updates()):
        k = u.entity.key()
        existed.setdefault(k, u.type is not UpdateType.INSERT)
        target[k] = (u.entity, u.type is not UpdateType.DELETE)
    ins: list[Entity] = []
    mod: list[Entity] = []
    dele: list[Entity] = []
    for key, (e, present) in target.items():
        if present:
            (mod if existed[key] else ins).append(e)
        elif existed[key]:
            dele.append(e)
    return Diff(tuple(map(insert, ins)), tuple(map(modify, mod)), tuple(map(delete, dele)))


def merge(first: Mapping[str, Diff], then: Mapping[str, Diff]) -> dict[str, Diff]:
    """Per switch, `first` then `then` (compose)."""
    out = dict(first)
    for sw, d in then.items():
        out[sw] = compose(out[sw], d) if sw in out else d
    return {sw: d for sw, d in out.items() if d}


def settle(change: Diff, installed: Mapping[object, Entity]) -> Diff:
    """The updates that make `installed` hold what `change` wants for its entries, and
    nothing for those already so: a Diff made against another belief of the switch
    (a plan queued before a resync) is then still right."""
    ins: list[Entity] = []
    mod: list[Entity] = []
    dele: list[Entity] = []
    for u in change.updates():
        k = u.entity.key()
        have = installed.get(k)
        if u.type is UpdateType.DELETE:
            if have is not None:
                dele.append(have)
        elif have is None:
            ins.append(u.entity)
        elif not same(u.entity, have):
            mod.append(u.entity)
    return Diff(tuple(map(insert, ins)), tuple(map(modify, mod)), tuple(map(delete, dele)))
