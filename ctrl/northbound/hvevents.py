"""What a hypervisor's migration events mean to the controller (pure: no libvirt).

libvirt tells each hypervisor's side of a migration (ctrl/vm/libvirt_events.py);
the controller acts on two of them:

| event (side)              | action                                               |
|---------------------------|------------------------------------------------------|
| incoming (destination)    | announce: deliver the VM at both places              |
| paused (source)           | switch over: the VM is stopped for the last copy, so |
|                           | deliver it at the new place from now on              |
| failed (either)           | cancel: the VM stays (or goes back) where it was     |
| resumed, finished         | nothing more: its RARP at the new place finds it     |
| started (source)          | nothing: the destination's incoming came first       |

A domain is the controller's VM by its name, or else by a MAC of its NICs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ctrl.p4rt.values import to_int
from ctrl.vm.libvirt_events import MigrationEvent, MigrationKind

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Announce:
    vm: str            # a VM name of the topology, or a MAC the controller may know
    hypervisor: str    # where it is going


@dataclass(frozen=True, slots=True)
class SwitchOver:
    vm: str


@dataclass(frozen=True, slots=True)
class Cancel:
    vm: str


Action = Announce | SwitchOver | Cancel


@dataclass(slots=True)
class MigrationPolicy:
    """The controller's actions for the migration events of every hypervisor."""

    vm_macs: Mapping[str, str]                 # the topology's VMs: name -> MAC
    in_flight: dict[str, str] = field(default_factory=dict)   # domain uuid -> vm

    def match(self, domain: str, macs: Sequence[str]) -> str | None:
        """The VM a domain is: by name, else by MAC (a topology VM's name where one has
        that MAC, else the MAC itself); None for a domain with neither."""
        if domain in self.vm_macs:
            return domain
        by_mac = {to_int(mac): name for name, mac in self.vm_macs.items()}
        for mac in macs:
            try:
                value = to_int(mac)
            except ValueError:
                continue
            return by_mac.get(value, mac.lower())
        return None

    def action(self, ev: MigrationEvent, macs: Sequence[str] = ()) -> Action | None:
        vm = self.in_flight.get(ev.uuid) or self.match(ev.domain, macs)
        if vm is None:
            log.info("domain %s (%s) is no VM of the topology and has no MAC: %s ignored",
                     ev.domain, ev.hypervisor, ev.kind.value)
            return None
        if ev.kind is MigrationKind.INCOMING:
            self.in_flight[ev.uuid] = vm
            return Announce(vm, ev.hypervisor)
        if ev.kind is MigrationKind.PAUSED:
            return SwitchOver(vm) if ev.uuid in self.in_flight else None
        if ev.kind is MigrationKind.FAILED:
            self.in_flight.pop(ev.uuid, None)
            return Cancel(vm)
        if ev.kind in (MigrationKind.RESUMED, MigrationKind.FINISHED):
            self.in_flight.pop(ev.uuid, None)
        return None
