"""What the control core asks of the switches, and how many such asks become one round of
writes. Pure.

A `Plan` is the answer to one event: groups of per-switch changes, applied one
group after the other (make-before-break: the new location, then the switches
outward from it a level at a time, the old location last), then frames to send (a proxy ARP
reply, a frame sent through a tunnel just brought up). Plans that wait while a
round is being written are coalesced into the next round: one batch per switch
per step, each plan's order kept, and a plan that touches what an earlier one
touches (the same VM moving again) started only once that one is written
(`coalesce`).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from ctrl.control.diff import Diff, compose, compose_all, merge, same
from ctrl.control.hosts import Host, Moved
from ctrl.p4rt.entity import Entity, MulticastGroupEntry, TableEntry, UpdateType
from ctrl.p4rt.values import to_int

Step = dict[str, Diff]  # switch -> what changes there; the switches of a step in parallel
Part = tuple[int, Diff]  # a change, and the version of the wanted state it leads to


@dataclass(frozen=True, slots=True)
class Send:
    """A frame the controller sends out of a switch's port (packet-out)."""

    switch: str
    port: int
    frame: bytes


@dataclass(frozen=True, slots=True)
class PacketOuts:
    """Frames of one size out of one switch's ports, end to end in one buffer: the proxy
    ARP replies the quiet filter made in C for a batch (ctrl/fastpath/quiet.py), one
    object for them all. Iterated, each is the Send it stands for."""

    switch: str
    ports: array[int]
    frames: bytes

    def __len__(self) -> int:
        return len(self.ports)

    def __iter__(self) -> Iterator[Send]:
        size = len(self.frames) // len(self.ports) if self.ports else 0
        for k, port in enumerate(self.ports):
            yield Send(self.switch, port, self.frames[k * size:(k + 1) * size])


@dataclass(slots=True)
class Plan:
    """One event's writes, in steps, and the frames to send once they are written.
    `moves` are the host moves whose convergence these writes are; `start` is when
    the event was seen (for the convergence time)."""

    steps: list[Step] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)
    moves: list[Moved] = field(default_factory=list)
    start: float = 0.0
    why: str = ""
    version: int = 0   # the wanted state's version its steps lead to (ControlCore.version)
    # Where a move's time went (ctrl/control/stages.py), monotonic: its packet-in off
    # the stream, the core's answer, the core's time planning it (0: not known).
    received: float = 0.0
    decided: float = 0.0
    planning: float = 0.0
    outs: PacketOuts | None = None   # more frames to send, after `sends`, in one buffer

    def switches(self) -> set[str]:
        return {s for step in self.steps for s in step}

    def writes(self) -> int:
        return sum(len(d) for step in self.steps for d in step.values())

    def __bool__(self) -> bool:
        return bool(self.steps or self.sends or self.moves or self.outs)

    def frames(self) -> Iterator[Send]:
        """Every frame to send once the steps are written, in order."""
        yield from self.sends
        if self.outs is not None:
            yield from self.outs


def replies_apart(plans: Sequence[Plan]) -> tuple[list[Plan], list[tuple[str, int, bytes]]]:
    """The plans that are more than proxy ARP replies, and every reply, sorted: what
    a batch decided, whether its settled hosts' requests were answered in C (all in
    one plan, ahead) or each in a plan of its own where it came."""
    rest = [p for p in plans if p.why != "proxy ARP" or p.steps or p.moves]
    replies = sorted((s.switch, s.port, s.frame) for p in plans if p.why == "proxy ARP"
                     and not p.steps and not p.moves for s in p.frames())
    return rest, replies


def ordered(changes: dict[str, Diff],
            levels: Sequence[Sequence[str]] | Callable[[str], int | None],
            last: str | None = None, first: dict[str, Diff] | None = None) -> list[Step]:
    """Changes in make-before-break steps: one step a level (MoveOrder.move_levels), the
    switches of a level in parallel, levels where nothing changes no step; and every
    deletion after them, with the old location's step (`last`, the last level) where
    there is one. A switch that no longer carries a host's frames loses its entry only
    once no switch sends them to it (every new entry points into the new reach, so a
    stale entry is never on a frame's way again: no loop, and no frame dropped that
    would have arrived). `first`: other hosts' entries a move brings along (inserts
    along their own trees, which cannot loop), all in the first step, so that the host
    that arrived reaches its peers once that step is written. `levels` may be each
    switch's level instead (MoveOrder.move_rank; None: in no level), the switches of a
    level then by name, as move_levels lists them."""
    keep = {s: Diff(d.inserts, d.modifies, ()) for s, d in changes.items()}
    if callable(levels):
        by_level: dict[int, Step] = {}
        for s in sorted(keep):
            if keep[s] and (rank := levels(s)) is not None:
                by_level.setdefault(rank, {})[s] = keep[s]
        steps = [by_level[r] for r in sorted(by_level)]
    else:
        steps = [{s: keep[s] for s in level if keep.get(s)} for level in levels]
        steps = [step for step in steps if step]
    early = {s: Diff(d.inserts, d.modifies, ()) for s, d in (first or {}).items()
             if d.inserts or d.modifies}
    if early:
        if not steps:
            steps.append({})
        for s, d in early.items():
            steps[0][s] = compose(steps[0][s], d) if s in steps[0] else d
    changes = merge(changes, {s: Diff((), (), d.deletes) for s, d in (first or {}).items()
                              if d.deletes})
    gone = {s: Diff((), (), d.deletes) for s, d in sorted(changes.items()) if d.deletes}
    if not gone:
        return steps
    if last is not None and steps and list(steps[-1]) == [last]:
        mine = steps[-1][last]
        steps[-1] = {**gone, last: compose(mine, gone[last]) if last in gone else mine}
    else:
        steps.append(gone)
    return steps


def at_once(changes: dict[str, Diff]) -> list[Step]:
    """Changes with no order between switches: one step, and the deletions after it."""
    return ordered(changes, [sorted(changes)])


def coalesce_parts(plans: Sequence[Plan], synced: Callable[[str], int] = lambda _: -1
                   ) -> list[dict[str, list[Part]]]:
    """The steps of several plans, in order, as one round: per step, each switch's
    changes from every plan there, in event order, each with its plan's version (a
    switch skips those its last sync wrote already). A plan that shares nothing with
    the plans before it starts with them (a move of another VM writes other keys: its
    frames are forwarded by its own entries only); one that does starts after the last
    step of every such plan, whose end state it was made against. So a switch gets one
    Write per step of the round, however many moves the round holds, and each move
    keeps its own make-before-break order. (One Write per switch for the whole round
    cannot keep that order for all: two VMs moving opposite ways through an aggregation
    switch and a core switch need them written in opposite orders.)

    Shared: an entry of a switch; and a host's tree, for a plan that rewrites it (a
    move, or new paths: MODIFYs of its bridging entries), with every earlier plan that
    wrote any of that host's entries anywhere: its new entries point at next hops the
    earlier ones left, even where it writes nothing (a VM's second move in a round; a
    move after another host's arrival brought its entries to new switches). Entries a
    plan only brings to switches or takes away (another host's arrival or departure)
    do not hold up other such plans, but they do hold up a later move in their network:
    the host that arrives sends at once, and its frames need the entries of everyone in
    its network where its plan found them (brought to its switch by an arrival before
    it, a departure's taking them not yet undone). And a plan takes a host's entries only
    after the last step of an earlier one rewriting that host's tree: a switch left with
    no host to send to it may carry that host's frames until then (taken sooner, frames
    still sent there are dropped). `synced`: the version each switch's
    last sync wrote (a sync during the round writes every plan's end state: the version is
    later than all of them)."""
    steps: list[dict[str, list[Part]]] = []
    last: dict[object, int] = {}   # entry, or host -> the last step of a plan writing it
    reshaped: dict[int, int] = {}  # network -> the last step of a plan bringing or taking
    rewritten: dict[object, int] = {}  # host -> the last step of a plan rewriting its tree
    for plan in _cancelled(plans, synced):   # its hosts' entries somewhere
        keys: set[object] = set()
        nets: set[int] = set()       # whose hosts' bridging entries it inserts or deletes
        hosts: set[object] = set()   # whose bridging (or flight's group) it writes
        trees: set[object] = set()   # whose tree it rewrites
        taken: dict[object, int] = {}  # whose entries it deletes -> its last step doing so
        for i, step in enumerate(plan.steps):
            for s, d in step.items():
                for u in d.updates():
                    key = u.entity.key()
                    keys.add((s, key))
                    if _forwarding(u.entity):
                        hosts.add(key)
                        if u.type is UpdateType.DELETE:
                            taken[key] = i
                        if u.type is UpdateType.MODIFY:
                            trees.add(key)
                        elif isinstance(u.entity, TableEntry):
                            nets.add(to_int(u.entity.match["vnet_id"]))
        trees |= {_bridging_key(m.host.vnet, m.host.mac) for m in plan.moves}
        offset = max([0, *(last[k] + 1 for k in keys | trees if k in last),
                      *(reshaped[m.host.vnet] + 1 for m in plan.moves
                        if m.host.vnet in reshaped),
                      *(rewritten[k] + 1 - i for k, i in taken.items() if k in rewritten)])
        for i, step in enumerate(plan.steps):
            while len(steps) <= i + offset:
                steps.append({})
            merged = steps[i + offset]
            for s, d in step.items():
                if d:
                    merged.setdefault(s, []).append((plan.version, d))
        end = offset + len(plan.steps) - 1
        for k in keys | hosts:
            last[k] = max(end, last.get(k, end))
        for net in nets:
            reshaped[net] = max(end, reshaped.get(net, end))
        for k in trees:
            rewritten[k] = max(end, rewritten.get(k, end))
    return [step for step in steps if step]


def _cancelled(plans: Sequence[Plan], synced: Callable[[str], int]) -> list[Plan]:
    """The plans without each delete that a later plan of the round undoes by inserting
    the very same entry (nothing else touching it in between), nor that insert: the
    switch keeps the entry throughout (a port one VM leaves and another arrives at stays
    an access port, instead of being one, none, and one again while a third VM that
    moved onto it meanwhile sends from it). Not where the switch's last sync came after
    the delete: it skips that, and must take the insert."""
    deleted: dict[tuple[str, object], tuple[int, Entity]] = {}   # entry -> (plan, as it was)
    drop: dict[int, dict[str, set[object]]] = {}                 # plan -> switch -> keys
    for i, plan in enumerate(plans):
        for step in plan.steps:
            for sw, d in step.items():
                for u in d.updates():
                    k = (sw, u.entity.key())
                    was = deleted.pop(k, None)
                    if u.type is UpdateType.DELETE:
                        deleted[k] = (i, u.entity)
                    elif was is not None and u.type is UpdateType.INSERT \
                            and same(was[1], u.entity) and synced(sw) < plans[was[0]].version:
                        for j in (was[0], i):
                            drop.setdefault(j, {}).setdefault(sw, set()).add(k[1])
    return [plan if i not in drop else replace(plan, steps=[
        {sw: d for sw, d in ((sw, _without(d, drop[i].get(sw, set())))
                             for sw, d in step.items()) if d}
        for step in plan.steps]) for i, plan in enumerate(plans)]


def _without(d: Diff, keys: set[object]) -> Diff:
    if not keys:
        return d
    return Diff(*(tuple(u for u in part if u.entity.key() not in keys)
                  for part in (d.inserts, d.modifies, d.deletes)))


def _forwarding(e: Entity) -> bool:
    return isinstance(e, MulticastGroupEntry) or e.table == "bridging"


def _bridging_key(vnet: int, mac: int) -> object:
    return TableEntry.of_ints("bridging", {"vnet_id": vnet, "eth_dst": mac}, "", {}).key()


def coalesce(plans: Sequence[Plan]) -> list[Step]:
    """`coalesce_parts` with each switch's changes of a step composed into one Diff."""
    out = [{s: compose_all([d for _, d in parts]) for s, parts in step.items()}
           for step in coalesce_parts(plans)]
    return [{s: d for s, d in step.items() if d} for step in out if any(step.values())]


@dataclass(frozen=True, slots=True)
class Applied:
    """What became of a plan: the updates written, and the switches that did not take
    theirs (switch -> why), which are out of sync until their resync."""

    written: int
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True, slots=True)
class Outcome:
    """A migration step asked through the API: the host as it is now, and the switches
    that did not take their part of it (switch -> why: not connected, refused)."""

    host: Host
    failed: dict[str, str]
