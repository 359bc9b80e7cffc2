"""A lab from a topology file: every namespace, interface, address and process it needs. Pure.

A lab file is a controller topology (ctrl/control/topology.py) whose switches may leave
out `device_id` and `grpc_addr`, plus an optional `lab` section:

    lab:
      probe: {from: vm1, to: vm2}          # the probe's two ends (default: first two hosts)
      demo:                                # the migrations `ctrl lab demo` makes, in order
        - {vm: vm2, to: server1, label: within campus-a}
        - {vm: vm2, to: server3, label: across the WAN}
      roam:                                # or: players roam, the placement engine follows
        server: game                       # (`ctrl lab demo`, ctrl/lab/roam.py)
        players: {laptop: 100, phone: 200} # datagrams/s each way between each and the server
        access_points: [ap-1, ap-2]        # where they roam, in the order they go there
        oscillate: phone                   # the one that goes back and forth at the end
      light: [vm5, vm6]                    # VMs that are a MAC and an address only

What becomes of it:
- a hypervisor is a namespace with a Linux bridge `br0` (its virtual switch) whose
  `uplink` is a veth to the hypervisor's switch port;
- a VM or a client is a namespace whose `eth0` (its MAC, its address) is a veth
  to a port of its hypervisor's bridge; its default gateway is the last address
  of its subnet, which the controller's proxy ARP answers with the virtual
  network's gateway MAC (the switches route between subnets);
- a light VM (`lab: light`) has no namespace and no process: it is a MAC and an address
  in the controller's topology, whose frames (its RARP after a move) are sent from its
  hypervisor's `uplink`, the bridge's port to the switch (ctrl/lab/light.py), so that a
  thousand of them fit on one machine (`ctrl lab storm --target ovs`); `ctrl lab
  migrate` moves one by its RARP alone, and the probe takes the other hosts only;
- with guests "qemu", a VM is a QEMU guest instead (ctrl/lab/guests.py), with the
  same MAC, address, gateway and MTU, its NIC a tap on the same port of the bridge;
  clients stay namespaces;
- a fabric link is a veth pair between two switch ports;
- with more than one site, a WAN router namespace joins the site gateways'
  underlay ports, each on a /31 of its own (the router takes the gateway's
  address with its last bit flipped); GRE leaves room: hosts get MTU 1450;
- switch ports live in the root namespace (bmv2), or, on the Open vSwitch
  target, in one namespace per site where that site's ovs-vswitchd runs: two
  sites' underlay addresses are then not local to one kernel, and no other
  userspace ovs-vswitchd (one per namespace) is in the way;
- on DPDK's datapath (`datapath` "dpdk", OVS target only) the same veths are DPDK
  ports; with QEMU guests too, each hypervisor's virtual switch is an OVS-DPDK bridge
  (`vswitch`) in its site's ovs-vswitchd, patched to its switch port: a guest's NIC is a
  vhost-user port of it, and the veth to the hypervisor's namespace (its Linux bridge,
  for the namespaces there) is another port of it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace

import yaml

from ctrl.control.topology import Reader, Topology, compose, parse_topology
from ctrl.errors import MobilityError
from ctrl.targets.ovs.vswitch import p4_end

TARGETS = ("ovs", "bmv2")
GUESTS = ("netns", "qemu")   # what a VM is: a namespace, or a QEMU guest
ACCEL_CHOICES = ("auto", "tcg", "kvm")   # how a QEMU guest runs: `auto` is KVM where it can
DATAPATHS = ("netdev", "dpdk")  # the OVS target's: kernel-socket ports, or DPDK ports
BRIDGE = "br0"               # a hypervisor's own switch, in its namespace
GRE_MTU = 1450    # 1500 less outer IPv4 (20), GRE with key (8), inner Ethernet (14), and slack
PLAIN_MTU = 1500
LAB_FIELDS = {"probe", "demo", "roam", "light"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


class LabError(MobilityError, ValueError):
    """A lab that cannot be built or used as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class End:
    """One end of a veth pair: its name, in a namespace (None: the root namespace)."""

    ns: str | None
    ifname: str


@dataclass(frozen=True, slots=True)
class SwitchNet:
    name: str
    site: str
    ns: str | None                 # where its ports live (and, on OVS, its ovs-vswitchd)
    device_id: int
    grpc_addr: str
    ports: Mapping[int, str]       # P4 port -> interface in `ns`
    index: int                     # position in the lab: names its interfaces


@dataclass(frozen=True, slots=True)
class HypervisorNet:
    name: str
    ns: str
    switch: str
    port: int
    uplink: tuple[End, End]        # switch side, hypervisor side ("uplink", on br0)
    vswitch: str | None = None     # its OVS-DPDK bridge (vhost-user guests), if any

    def guest_port(self, host: HostNet) -> str:
        """The port of `host`'s guest here: a tap on br0, or a vhost-user port of the
        virtual switch (unique within its site's ovs-vswitchd)."""
        return host.port_name if self.vswitch is None else f"{self.vswitch}{host.port_name}"


@dataclass(frozen=True, slots=True)
class HostNet:
    """A VM or a client: a namespace with one interface, eth0; or a QEMU guest (`guest`,
    no namespace: `ns` is empty)."""

    name: str
    role: str
    ns: str
    vnet: int
    mac: str
    ip: str
    prefix: int
    gateway: str
    mtu: int
    hypervisor: str                # where it starts
    index: int                     # names its port on a hypervisor's bridge: v<index>
    guest: bool = False

    @property
    def port_name(self) -> str:
        return f"v{self.index}"


@dataclass(frozen=True, slots=True)
class WanPort:
    switch: str
    wire: tuple[End, End]          # switch side, router side
    router_ip: str                 # on the router's end, with its /31
    router_mac: str
    gateway_ip: str
    gateway_mac: str


@dataclass(frozen=True, slots=True)
class Wan:
    ns: str
    ports: tuple[WanPort, ...]


@dataclass(frozen=True, slots=True)
class DemoStep:
    vm: str
    to: str
    label: str


@dataclass(frozen=True, slots=True)
class RoamSpec:
    """The placement demo's cast: a server with a placement policy, its players and the
    rate each plays at, the access points they roam between, the one that oscillates."""

    server: str
    players: tuple[tuple[str, float], ...]
    access_points: tuple[str, ...]
    oscillate: str


@dataclass(frozen=True, slots=True)
class LabSpec:
    name: str
    tag: str                       # prefix of every interface it makes in shared namespaces
    target: str
    topology: Topology             # what `ctrl serve` gets: addresses assigned
    switches: Mapping[str, SwitchNet]
    links: tuple[tuple[End, End], ...]
    hypervisors: Mapping[str, HypervisorNet]
    hosts: Mapping[str, HostNet]
    wan: Wan | None
    site_ns: Mapping[str, str]     # site -> namespace of its switches (OVS target only)
    probe: tuple[str, str]
    demo: tuple[DemoStep, ...]
    guests: str = "netns"
    roam: RoamSpec | None = None
    datapath: str = "netdev"
    light: Mapping[str, HostNet] = field(default_factory=dict)   # VMs without a namespace

    @property
    def vhost(self) -> bool:
        """QEMU guests on vhost-user ports of OVS-DPDK virtual switches."""
        return self.guests == "qemu" and self.datapath == "dpdk"

    def namespaces(self) -> list[str]:
        """Every namespace the lab makes, in the order they are made."""
        out = [*self.site_ns.values()]
        out += [h.ns for h in self.hypervisors.values()]
        out += [h.ns for h in self.hosts.values() if not h.guest]
        if self.wan is not None:
            out.append(self.wan.ns)
        return out

    def host(self, name: str) -> HostNet:
        try:
            return self.hosts[name]
        except KeyError:
            if name in self.light:
                raise LabError(f"{name} is a light VM of lab {self.name} (a MAC and an "
                               "address, no namespace): no probe runs in it") from None
            raise LabError(f"no VM or client {name!r} in lab {self.name} "
                           f"(hosts: {', '.join(sorted(self.hosts))})") from None

    def hypervisor(self, name: str) -> HypervisorNet:
        try:
            return self.hypervisors[name]
        except KeyError:
            raise LabError(f"no hypervisor {name!r} in lab {self.name} "
                           f"(hypervisors: {', '.join(sorted(self.hypervisors))})") from None


def lab_tag(key: str) -> str:
    """Three characters that set this lab's interface names apart from another's."""
    return "l" + hashlib.sha256(key.encode()).hexdigest()[:2]


def parse_lab(text: str, origin: str, *, target: str = "ovs", tag: str = "lab",
              grpc_ports: Iterator[int] | None = None, guests: str = "netns",
              datapath: str = "netdev") -> LabSpec:
    """The lab of a topology file. `grpc_ports` gives the P4Runtime ports to use (one per
    switch on bmv2, one per site on OVS); by default 50001, 50002, ... `guests` says
    what its VMs are: namespaces, or QEMU guests; `datapath` the OVS target's."""
    if target not in TARGETS:
        raise LabError(f"unknown target {target!r} (targets: {', '.join(TARGETS)})")
    if guests not in GUESTS:
        raise LabError(f"unknown kind of guest {guests!r} (one of {', '.join(GUESTS)})")
    if datapath not in DATAPATHS:
        raise LabError(f"unknown datapath {datapath!r} (one of {', '.join(DATAPATHS)})")
    if datapath != "netdev" and target != "ovs":
        raise LabError(f"--datapath {datapath} is the Open vSwitch target's; {target} has none")
    topo = parse_topology(text, origin, addresses=False)
    r = Reader(origin)
    top = r.mapping(compose(text, origin), "the topology")
    name = r.scalar(top["name"][1], "name") if "name" in top else origin_stem(origin)
    for what, names in (("lab name", [name]), ("site", topo.sites), ("switch", topo.switches),
                        ("hypervisor", topo.hypervisors), ("host", topo.vms)):
        for n in names:
            if not _NAME.match(n):
                raise LabError(f"{origin}: {what} {n!r}: the lab names namespaces after it, so "
                               "use 1-40 letters, digits, '.', '_' or '-'")
    ports = grpc_ports or iter(range(50001, 60000))
    site_ns = ({site: f"{name}-site-{site}" for site in topo.sites} if target == "ovs"
               else {})
    switches = _switches(topo, tag, target, site_ns, ports)
    wan = _wan(topo, name, tag, switches)
    topo = _assign(topo, switches, wan)
    vhost = guests == "qemu" and datapath == "dpdk"
    hypervisors = {h.name: _hypervisor(name, tag, j, h.name, switches[h.attach.switch],
                                       h.attach.port, vhost)
                   for j, h in enumerate(topo.hypervisors.values())}
    if vhost:   # a hypervisor's port on its switch is the patch to its virtual switch
        switches = {s: replace(sw, ports={**sw.ports, **{
            h.port: p4_end(h.vswitch) for h in hypervisors.values()
            if h.switch == s and h.vswitch}})
            for s, sw in switches.items()}
    mtu = GRE_MTU if wan is not None else PLAIN_MTU
    every = {vm.name: _host(topo, name, vm.name, i + 1, mtu, origin, guests == "qemu")
             for i, vm in enumerate(topo.vms.values())}
    _one_vnet_per_hypervisor(every, origin)
    light = _light(r, top, every)
    hosts = {n: h for n, h in every.items() if n not in light}
    links = tuple((End(switches[x.a.switch].ns, switches[x.a.switch].ports[x.a.port]),
                   End(switches[x.b.switch].ns, switches[x.b.switch].ports[x.b.port]))
                  for x in topo.links)
    probe, demo, roam = _lab_section(r, top, topo, hosts, light)
    return LabSpec(name, tag, target, topo, switches, links, hypervisors, hosts, wan, site_ns,
                   probe, demo, guests, roam, datapath, light)


def _hypervisor(lab: str, tag: str, index: int, name: str, switch: SwitchNet, port: int,
                vhost: bool) -> HypervisorNet:
    """A hypervisor's namespace and the veth from its bridge br0 to its switch port (or,
    `vhost`, to its virtual switch, which is patched to that port)."""
    ns = f"{lab}-hv-{name}"
    if not vhost:
        return HypervisorNet(name, ns, switch.name, port,
                             (End(switch.ns, switch.ports[port]), End(ns, "uplink")))
    vswitch = f"{tag}h{index}"
    return HypervisorNet(name, ns, switch.name, port,
                         (End(switch.ns, f"{vswitch}u"), End(ns, "uplink")), vswitch)


def origin_stem(origin: str) -> str:
    stem = origin.rsplit("/", 1)[-1]
    return stem.rsplit(".", 1)[0] if "." in stem else stem


def _switches(topo: Topology, tag: str, target: str, site_ns: Mapping[str, str],
              grpc_ports: Iterator[int]) -> dict[str, SwitchNet]:
    """Ports: every link end, hypervisor and underlay port, named <tag><index>p<port>."""
    used: dict[str, set[int]] = {s: set() for s in topo.switches}
    for link in topo.links:
        for ref in (link.a, link.b):
            used[ref.switch].add(ref.port)
    for h in topo.hypervisors.values():
        used[h.attach.switch].add(h.attach.port)
    for s in topo.switches.values():
        if s.underlay:
            used[s.name].add(s.underlay.port)
    site_addr = {site: f"127.0.0.1:{next(grpc_ports)}" for site in topo.sites} \
        if target == "ovs" else {}
    device_ids: dict[str, int] = {}
    out = {}
    for i, s in enumerate(topo.switches.values()):
        if target == "ovs":
            addr = site_addr[s.site]
            device_ids[s.site] = device_id = device_ids.get(s.site, 0) + 1
        else:
            addr, device_id = f"127.0.0.1:{next(grpc_ports)}", 1
        ports = {p: f"{tag}{i}p{p}" for p in sorted(used[s.name])}
        out[s.name] = SwitchNet(s.name, s.site, site_ns.get(s.site), device_id, addr, ports, i)
    return out


def _wan(topo: Topology, name: str, tag: str, switches: Mapping[str, SwitchNet]) -> Wan | None:
    gateways = [s for s in topo.switches.values() if s.underlay is not None]
    if len(topo.sites) < 2 or len(gateways) < 2:
        return None
    ports = []
    for k, s in enumerate(gateways):
        assert s.underlay is not None
        sw = switches[s.name]
        gw = ipaddress.IPv4Address(s.underlay.ip)
        router = ipaddress.IPv4Address(int(gw) ^ 1)
        ports.append(WanPort(
            s.name, (End(sw.ns, sw.ports[s.underlay.port]), End(f"{name}-wan", f"wan{k}")),
            f"{router}/31", f"0a:00:00:fe:00:{k + 1:02x}", str(gw),
            s.underlay.mac or f"0a:00:00:ff:00:{k + 1:02x}"))
    return Wan(f"{name}-wan", tuple(ports))


def _assign(topo: Topology, switches: Mapping[str, SwitchNet], wan: Wan | None) -> Topology:
    """The topology with the lab's P4Runtime addresses and underlay MACs filled in."""
    wan_ports = {p.switch: p for p in (wan.ports if wan else ())}
    out = {}
    for s in topo.switches.values():
        net = switches[s.name]
        underlay = s.underlay
        if underlay is not None and s.name in wan_ports:
            port = wan_ports[s.name]
            underlay = replace(underlay, mac=port.gateway_mac, next_hop_mac=port.router_mac)
        out[s.name] = replace(s, device_id=net.device_id, grpc_addr=net.grpc_addr,
                              underlay=underlay)
    return replace(topo, switches=out)


def _host(topo: Topology, lab: str, name: str, index: int, mtu: int, origin: str,
          qemu: bool) -> HostNet:
    vm = topo.vms[name]
    net = ipaddress.IPv4Network(f"{vm.ip}/{vm.prefix}", strict=False)
    if net.prefixlen >= 31:
        raise LabError(f"{origin}: {vm.role} {name}: a /{net.prefixlen} leaves no address "
                       "for the gateway")
    gateway = str(net.broadcast_address - 1)
    if gateway == vm.ip:
        raise LabError(f"{origin}: {vm.role} {name}: {vm.ip} is the last address of "
                       f"{net}, which the lab gives to the gateway")
    guest = qemu and vm.role == "vm"
    return HostNet(name, vm.role, "" if guest else f"{lab}-{vm.role}-{name}",
                   topo.vnets[vm.vnet].id, vm.mac, vm.ip, vm.prefix, gateway, mtu,
                   vm.hypervisor, index, guest)


def _one_vnet_per_hypervisor(hosts: Mapping[str, HostNet], origin: str) -> None:
    """A hypervisor's switch port is an access port of one virtual network."""
    seen: dict[str, HostNet] = {}
    for h in hosts.values():
        other = seen.setdefault(h.hypervisor, h)
        if other.vnet != h.vnet:
            raise LabError(f"{origin}: {h.name} (vnet {h.vnet}) and {other.name} (vnet "
                           f"{other.vnet}) share hypervisor {h.hypervisor}, whose port is "
                           "an access port of one virtual network")


def _lab_section(r: Reader, top: Mapping[str, tuple[yaml.Node, yaml.Node]], topo: Topology,
                 hosts: Mapping[str, HostNet], light: Mapping[str, HostNet]
                 ) -> tuple[tuple[str, str], tuple[DemoStep, ...], RoamSpec | None]:
    names = list(hosts)
    probe = (names[0], names[1]) if len(names) > 1 else ("", "")
    demo: list[DemoStep] = []
    if "lab" not in top:
        return probe, (), None
    f = r.fields(top["lab"][1], "lab", set(), LAB_FIELDS)

    def host(node: yaml.Node, what: str) -> str:
        name = r.scalar(node, what)
        if name in light:
            raise r.fail(node, f"{what}: {name} is light (no namespace): not here")
        if name not in hosts:
            raise r.fail(node, f"{what}: no VM or client {name!r}")
        return name

    if "probe" in f:
        p = r.fields(f["probe"], "lab: probe", {"from", "to"}, set())
        probe = (host(p["from"], "lab: probe: from"), host(p["to"], "lab: probe: to"))
        if probe[0] == probe[1]:
            raise r.fail(f["probe"], "lab: probe: its two ends are one host")
    for item in r.sequence(f["demo"], "lab: demo") if "demo" in f else []:
        d = r.fields(item, "lab: demo step", {"vm", "to"}, {"label"})
        vm = host(d["vm"], "lab: demo: vm")
        to = r.scalar(d["to"], "lab: demo: to")
        if to not in topo.hypervisors:
            raise r.fail(d["to"], f"lab: demo: no hypervisor {to!r}")
        label = r.scalar(d["label"], "lab: demo: label") if "label" in d else f"{vm} -> {to}"
        demo.append(DemoStep(vm, to, label))
    roam = _roam(r, f["roam"], topo, host) if "roam" in f else None
    return probe, tuple(demo), roam


def _roam(r: Reader, node: yaml.Node, topo: Topology, host: Callable[[yaml.Node, str], str]
          ) -> RoamSpec:
    f = r.fields(node, "lab: roam", {"server", "players", "access_points"}, {"oscillate"})
    server = host(f["server"], "lab: roam: server")
    vm = topo.vms[server]
    if vm.role != "vm" or vm.placement is None:
        raise r.fail(f["server"], f"lab: roam: server {server} must be a VM with a "
                                  "`placement` policy (the engine moves it, not the demo)")
    players: list[tuple[str, float]] = []
    for name, (key, value) in r.mapping(f["players"], "lab: roam: players").items():
        player = host(key, "lab: roam: players")
        if player == server:
            raise r.fail(key, "lab: roam: the server is no player")
        rate = r.integer(value, f"lab: roam: players: {name} (datagrams/s)", 1, 10_000)
        players.append((player, float(rate)))
    if not players:
        raise r.fail(f["players"], "lab: roam: no players")
    aps = [r.scalar(n, "lab: roam: access_points")
           for n in r.sequence(f["access_points"], "lab: roam: access_points")]
    for ap, n in zip(aps, r.sequence(f["access_points"], "access_points"), strict=True):
        if ap not in topo.hypervisors:
            raise r.fail(n, f"lab: roam: no hypervisor {ap!r}")
    if len(set(aps)) < 2:
        raise r.fail(f["access_points"], "lab: roam: two access points at least")
    oscillate = host(f["oscillate"], "lab: roam: oscillate") if "oscillate" in f \
        else players[-1][0]
    if oscillate not in dict(players):
        raise r.fail(f["oscillate"], f"lab: roam: oscillate: {oscillate} is no player")
    return RoamSpec(server, tuple(players), tuple(aps), oscillate)


def _light(r: Reader, top: Mapping[str, tuple[yaml.Node, yaml.Node]],
           hosts: Mapping[str, HostNet]) -> dict[str, HostNet]:
    """`lab: light`: VMs without a namespace (not clients, not QEMU guests)."""
    if "lab" not in top:
        return {}
    node = r.fields(top["lab"][1], "lab", set(), LAB_FIELDS).get("light")
    out: dict[str, HostNet] = {}
    for item in r.sequence(node, "lab: light") if node is not None else []:
        name = r.scalar(item, "lab: light")
        host = hosts.get(name)
        if host is None or host.role != "vm":
            raise r.fail(item, f"lab: light: no VM {name!r}")
        if name in out:
            raise r.fail(item, f"lab: light: {name} twice")
        out[name] = replace(host, ns="", guest=False)
    return out
