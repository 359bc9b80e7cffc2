"""ctrl.northbound.hvevents: which migration events the controller acts on, and for which VM."""

from __future__ import annotations

from ctrl.northbound.hvevents import Announce, Cancel, MigrationPolicy, SwitchOver
from ctrl.vm.libvirt_events import MigrationEvent, MigrationKind

K = MigrationKind
U = "6f1d7a7e-0000-4000-8000-000000000001"
VMS = {"web": "52:54:00:98:00:0b", "db": "52:54:00:98:00:0c"}


def ev(kind: MigrationKind, hv: str = "hv-b", domain: str = "web",
       side: str = "destination") -> MigrationEvent:
    return MigrationEvent(kind, hv, domain, U, side)


def test_incoming_at_the_destination_announces_and_failed_cancels() -> None:
    p = MigrationPolicy(VMS)
    assert p.action(ev(K.INCOMING)) == Announce("web", "hv-b")
    assert p.in_flight == {U: "web"}
    assert p.action(ev(K.FAILED)) == Cancel("web")
    assert p.in_flight == {}


def test_the_source_pausing_switches_over_and_the_rest_needs_nothing() -> None:
    p = MigrationPolicy(VMS)
    p.action(ev(K.INCOMING))
    assert p.action(ev(K.STARTED, "hv-a", side="source")) is None
    assert p.action(ev(K.PAUSED, "hv-a", side="source")) == SwitchOver("web")
    assert p.action(ev(K.RESUMED)) is None
    assert p.in_flight == {}
    assert p.action(ev(K.FINISHED, "hv-a", side="source")) is None
    # Paused with no destination heard of (a hypervisor not watched): nothing to switch.
    assert MigrationPolicy(VMS).action(ev(K.PAUSED, "hv-a", side="source")) is None


def test_a_domain_is_its_vm_by_name_or_else_by_mac() -> None:
    p = MigrationPolicy(VMS)
    assert p.action(ev(K.INCOMING, domain="instance-0007"), ["52:54:00:98:00:0C"]) == \
        Announce("db", "hv-b")
    # Its failure is known by the domain, whatever its XML says by then.
    assert p.action(ev(K.FAILED, domain="instance-0007")) == Cancel("db")
    # A MAC the topology does not declare: the controller may know it (learned).
    assert p.action(ev(K.INCOMING, domain="other"), ["bad", "02:aa:00:00:00:01"]) == \
        Announce("02:aa:00:00:00:01", "hv-b")
    assert MigrationPolicy(VMS).action(ev(K.INCOMING, domain="other")) is None
    assert MigrationPolicy(VMS).action(ev(K.FAILED, domain="other")) is None
