from __future__ import annotations

from ctrl.control.diff import diff
from ctrl.p4rt.entity import Entity, MulticastGroupEntry, TableEntry, UpdateType


def fwd(mac: int, port: int, vnet: int = 10) -> TableEntry:
    return TableEntry("bridging", {"vnet_id": vnet, "eth_dst": mac}, "bridging.forward",
                      {"port": port})


def test_nothing_to_do_when_equal() -> None:
    state: list[Entity] = [fwd(1, 1), fwd(2, 2), MulticastGroupEntry.of_ports(1, [1, 2])]
    again: list[Entity] = [fwd(2, 2), fwd(1, 1), MulticastGroupEntry.of_ports(1, [2, 1])]
    assert len(diff(again, state)) == 0


def test_only_changed_next_hops_are_written() -> None:
    installed = [fwd(1, 1), fwd(2, 2), fwd(3, 3)]
    wanted = [fwd(1, 1), fwd(2, 5), fwd(4, 4)]
    d = diff(wanted, installed)
    kinds = [(u.type, u.entity) for u in d.updates()]
    assert kinds == [(UpdateType.INSERT, fwd(4, 4)), (UpdateType.MODIFY, fwd(2, 5)),
                     (UpdateType.DELETE, fwd(3, 3))]


def test_same_mac_in_other_vnet_is_another_entry() -> None:
    d = diff([fwd(1, 1, vnet=20)], [fwd(1, 1, vnet=10)])
    assert [u.type for u in d.updates()] == [UpdateType.INSERT, UpdateType.DELETE]


def test_group_membership_change_is_a_modify() -> None:
    d = diff([MulticastGroupEntry.of_ports(1, [1, 2, 3])], [MulticastGroupEntry.of_ports(1, [1])])
    assert [u.type for u in d.updates()] == [UpdateType.MODIFY]
