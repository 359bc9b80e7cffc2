"""The parts of a fabric as a topology file declares them (ctrl/control/topology.py reads
and writes the file): sites' switches, links between their ports, hypervisors, virtual
networks and VMs, all frozen values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ctrl.errors import MobilityError

MAX_PORT = 510  # 9-bit ports; 255 is the CPU port, 511 drops
CPU_PORT = 255


class TopologyError(MobilityError, ValueError):
    """A topology file that cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True, order=True)
class PortRef:
    """A port of a switch: a link's end, a hypervisor's attachment, where a host is."""

    switch: str
    port: int

    def __str__(self) -> str:
        return f"{self.switch}:{self.port}"


@dataclass(frozen=True, slots=True)
class Underlay:
    ip: str
    port: int
    mac: str | None = None
    next_hop_mac: str | None = None


@dataclass(frozen=True, slots=True)
class Switch:
    name: str
    site: str
    device_id: int
    grpc_addr: str
    underlay: Underlay | None = None


@dataclass(frozen=True, slots=True)
class Link:
    a: PortRef
    b: PortRef


@dataclass(frozen=True, slots=True)
class Hypervisor:
    name: str
    attach: PortRef
    max_vms: int | None = None        # capacity: None, no bound; 0: hosts no VMs
    max_memory_mb: int | None = None


@dataclass(frozen=True, slots=True)
class PlacementSpec:
    """A VM's placement policy as the file gives it: the manager, its numeric parameters,
    the hypervisors it may use (empty: any); checked against the managers loaded by
    ctrl/placement when `ctrl serve` starts (`origin` says where it was written)."""

    policy: str
    params: tuple[tuple[str, float], ...] = ()
    hypervisors: tuple[str, ...] = ()
    origin: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class VNet:
    name: str
    id: int
    gateway_mac: str | None = None


@dataclass(frozen=True, slots=True)
class VM:
    name: str
    vnet: str
    mac: str
    ip: str
    hypervisor: str
    prefix: int = 24
    role: str = "vm"  # or "client"
    memory_mb: int = 0
    placement: PlacementSpec | None = None


@dataclass(frozen=True, slots=True)
class Topology:
    sites: tuple[str, ...]
    switches: Mapping[str, Switch]
    links: tuple[Link, ...]
    hypervisors: Mapping[str, Hypervisor]
    vnets: Mapping[str, VNet]
    vms: Mapping[str, VM]

    def switches_of_site(self, site: str) -> list[Switch]:
        return [s for s in self.switches.values() if s.site == site]

    def gateway_mac(self, vnet_id: int) -> str | None:
        """The distributed gateway's MAC of a virtual network (None: it is not routed)."""
        return next((v.gateway_mac for v in self.vnets.values()
                     if v.id == vnet_id and v.gateway_mac), None)
