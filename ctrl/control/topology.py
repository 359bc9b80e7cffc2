"""The fabric as the operator declares it: sites, switches, links, hypervisors, VMs (YAML).

    sites:
      campus-a: {}
      campus-b: {}
    switches:
      s1: {site: campus-a, device_id: 1, grpc_addr: "127.0.0.1:50001",
           underlay: {ip: 192.0.2.1, port: 9}}
      s2: {site: campus-a, device_id: 2, grpc_addr: "127.0.0.1:50002"}
    links:
      - [s1:1, s2:1]
    hypervisors:
      h1: {switch: s1, port: 3, capacity: {vms: 8, memory_mb: 16384}}
      ap1: {switch: s2, port: 3, capacity: 0}       # hosts no VMs: clients only
    vnets:
      blue: {id: 10, gateway_mac: "02:00:00:00:00:01"}
    vms:
      vm1: {vnet: blue, mac: "02:00:00:00:01:01", ip: 10.0.1.1, hypervisor: h1,
            memory_mb: 2048, placement: {policy: follow-clients, threshold: 0.3}}

A hypervisor's `capacity` (VMs, or `{vms: N, memory_mb: M}`) bounds what placement puts
there (none: no bound; 0: a place for clients, never for VMs); a VM's `placement` names
its mobility manager and the parameters it and the engine take (ctrl/placement/).

Every error names the file, the line and what is wrong; a topology that loads
is consistent (every reference resolves, nothing is used twice).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path

import yaml

from ctrl.control.fabric import (
    CPU_PORT,
    MAX_PORT,
    VM,
    Hypervisor,
    Link,
    PlacementSpec,
    PortRef,
    Switch,
    Topology,
    TopologyError,
    Underlay,
    VNet,
)
from ctrl.p4rt.values import int_to_mac, mac_to_int


class Reader:
    """Walks the YAML node tree so that every complaint carries its line."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, node: yaml.Node | None, message: str) -> TopologyError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        return TopologyError(f"{self.origin}{line}: {message}")

    def mapping(self, node: yaml.Node, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, value in node.value:
            name = self.scalar(key, f"a key of {what}")
            if name in out:
                raise self.fail(key, f"{what}: {name!r} is given twice")
            out[name] = (key, value)
        return out

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} must be a list")
        return list(node.value)

    def scalar(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.value == "":
            raise self.fail(node, f"{what} must be a plain value")
        return str(node.value)

    def integer(self, node: yaml.Node, what: str, low: int, high: int) -> int:
        text = self.scalar(node, what)
        try:
            value = int(text, 0)
        except ValueError:
            raise self.fail(node, f"{what} must be a whole number, not {text!r}") from None
        if not low <= value <= high:
            raise self.fail(node, f"{what} must be in {low}..{high}, not {value}")
        return value

    def fields(self, node: yaml.Node, what: str, required: set[str],
               optional: set[str]) -> dict[str, yaml.Node]:
        items = self.mapping(node, what)
        unknown = set(items) - required - optional
        if unknown:
            name = sorted(unknown)[0]
            allowed = ", ".join(sorted(required | optional))
            raise self.fail(items[name][0], f"{what}: unknown field {name!r} (allowed: {allowed})")
        missing = required - set(items)
        if missing:
            raise self.fail(node, f"{what}: missing field {', '.join(sorted(missing))}")
        return {k: v for k, (_, v) in items.items()}

    def ipv4(self, node: yaml.Node, what: str) -> str:
        text = self.scalar(node, what)
        try:
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            raise self.fail(node, f"{what}: {text!r} is not an IPv4 address") from None

    def ipv4_prefix(self, node: yaml.Node, what: str, default: int = 24) -> tuple[str, int]:
        """A host address with an optional prefix length: 10.0.1.1 or 10.0.1.1/24."""
        text = self.scalar(node, what)
        slash = "/" in text
        try:
            iface = ipaddress.IPv4Interface(text if slash else f"{text}/{default}")
        except ValueError:
            raise self.fail(node, f"{what}: {text!r} is not an IPv4 address[/prefix]") from None
        if iface.network.prefixlen < 31 and iface.ip in (iface.network.network_address,
                                                          iface.network.broadcast_address):
            raise self.fail(node, f"{what}: {text} is not a host address of {iface.network}")
        return str(iface.ip), iface.network.prefixlen

    def mac(self, node: yaml.Node, what: str) -> str:
        text = self.scalar(node, what)
        try:
            value = mac_to_int(text)
        except ValueError:
            raise self.fail(node, f"{what}: {text!r} is not a MAC address") from None
        if value >> 40 & 1:
            raise self.fail(node, f"{what}: {text} is a multicast MAC address")
        return int_to_mac(value)

    def port_ref(self, node: yaml.Node, what: str, switches: Mapping[str, Switch]) -> PortRef:
        text = self.scalar(node, what)
        name, _, port_text = text.rpartition(":")
        if not name or not port_text.isdigit():
            raise self.fail(node, f"{what}: {text!r} is not SWITCH:PORT")
        if name not in switches:
            raise self.fail(node, f"{what}: no switch {name!r}")
        port = int(port_text)
        if not 1 <= port <= MAX_PORT or port == CPU_PORT:
            raise self.fail(node, f"{what}: port {port} is not in 1..{MAX_PORT} "
                                  f"(and not the CPU port {CPU_PORT})")
        return PortRef(name, port)


def load_topology(path: str | Path) -> Topology:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise TopologyError(f"{path}: cannot read: {exc.strerror}") from exc
    return parse_topology(text, str(path))


# libyaml's parser where PyYAML has it (x5-10 the pure Python one: a topology of 320
# switches and their links); the same nodes, tags and line marks
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def compose(text: str, origin: str) -> yaml.Node:
    """The YAML node tree of a topology file (lines kept for errors)."""
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise TopologyError(f"{origin}{line}: not valid YAML: "
                            f"{getattr(exc, 'problem', None) or exc}") from None
    if root is None:
        raise TopologyError(f"{origin}: the topology is empty")
    return root


SECTIONS = {"sites", "links", "hypervisors", "vnets", "vms", "clients", "name", "lab"}


def parse_topology(text: str, origin: str = "<topology>", *,
                   addresses: bool = True) -> Topology:
    r = Reader(origin)
    top = r.fields(compose(text, origin), "the topology", {"switches"}, SECTIONS)
    sites = list(r.mapping(top["sites"], "sites")) if "sites" in top else ["default"]
    switches = _switches(r, top["switches"], sites, addresses)
    links = _links(r, top.get("links"), switches)
    hypervisors = _hypervisors(r, top.get("hypervisors"), switches, links)
    vnets = _vnets(r, top.get("vnets"))
    vms = _vms(r, [("vm", top.get("vms")), ("client", top.get("clients"))], vnets,
               hypervisors)
    _check_capacity(r, top.get("hypervisors"), vms, hypervisors)
    return Topology(tuple(sites), switches, tuple(links), hypervisors, vnets, vms)


def _switches(r: Reader, node: yaml.Node, sites: list[str], addresses: bool
              ) -> dict[str, Switch]:
    out: dict[str, Switch] = {}
    ids: dict[tuple[str, int], str] = {}
    underlay_ips: dict[str, str] = {}
    given = {"device_id", "grpc_addr"}
    for name, (key, value) in r.mapping(node, "switches").items():
        what = f"switch {name}"
        f = r.fields(value, what, given if addresses else set(),
                     {"site", "underlay"} | (set() if addresses else given))
        site = r.scalar(f["site"], f"{what}: site") if "site" in f else sites[0]
        if site not in sites:
            raise r.fail(f["site"], f"{what}: no site {site!r} (sites: {', '.join(sites)})")
        device_id = (r.integer(f["device_id"], f"{what}: device_id", 0, 2**64 - 1)
                     if "device_id" in f else 1)
        grpc_addr = r.scalar(f["grpc_addr"], f"{what}: grpc_addr") if "grpc_addr" in f else ""
        if grpc_addr and (grpc_addr, device_id) in ids:
            raise r.fail(f.get("device_id", key), f"{what}: {grpc_addr} device {device_id} is "
                                                  f"switch {ids[grpc_addr, device_id]} already")
        ids[grpc_addr, device_id] = name
        underlay = _underlay(r, f["underlay"], what) if "underlay" in f else None
        if underlay is not None:
            if underlay.ip in underlay_ips:
                raise r.fail(f["underlay"], f"{what}: underlay ip {underlay.ip} is switch "
                                            f"{underlay_ips[underlay.ip]}'s already")
            underlay_ips[underlay.ip] = name
        out[name] = Switch(name, site, device_id, grpc_addr, underlay)
    if not out:
        raise r.fail(node, "there are no switches")
    return out


def _underlay(r: Reader, node: yaml.Node, what: str) -> Underlay:
    u = r.fields(node, f"{what}: underlay", {"ip", "port"}, {"mac", "next_hop_mac"})
    return Underlay(r.ipv4(u["ip"], f"{what}: underlay ip"),
                    r.integer(u["port"], f"{what}: underlay port", 1, MAX_PORT),
                    r.mac(u["mac"], f"{what}: underlay mac") if "mac" in u else None,
                    r.mac(u["next_hop_mac"], f"{what}: underlay next_hop_mac")
                    if "next_hop_mac" in u else None)


def _links(r: Reader, node: yaml.Node | None, switches: Mapping[str, Switch]) -> list[Link]:
    if node is None:
        return []
    used: dict[PortRef, yaml.Node] = {}
    out = []
    for item in r.sequence(node, "links"):
        ends = r.sequence(item, "a link")
        if len(ends) != 2:
            raise r.fail(item, "a link has exactly two ends, SWITCH:PORT each")
        a, b = (r.port_ref(e, "link end", switches) for e in ends)
        if a.switch == b.switch:
            raise r.fail(item, f"link {a} - {b} joins a switch to itself")
        for ref, end in ((a, ends[0]), (b, ends[1])):
            if ref in used:
                raise r.fail(end, f"port {ref} is used by another link (line "
                                  f"{used[ref].start_mark.line + 1})")
            used[ref] = end
        out.append(Link(a, b))
    return out


def _hypervisors(r: Reader, node: yaml.Node | None, switches: Mapping[str, Switch],
                 links: list[Link]) -> dict[str, Hypervisor]:
    if node is None:
        return {}
    taken = {ref: "a link" for link in links for ref in (link.a, link.b)}
    for s in switches.values():
        if s.underlay:
            taken[PortRef(s.name, s.underlay.port)] = "the underlay"
    out: dict[str, Hypervisor] = {}
    for name, (_, value) in r.mapping(node, "hypervisors").items():
        f = r.fields(value, f"hypervisor {name}", {"switch", "port"}, {"capacity"})
        switch = r.scalar(f["switch"], f"hypervisor {name}: switch")
        if switch not in switches:
            raise r.fail(f["switch"], f"hypervisor {name}: no switch {switch!r}")
        port = r.integer(f["port"], f"hypervisor {name}: port", 1, MAX_PORT)
        if port == CPU_PORT:
            raise r.fail(f["port"], f"hypervisor {name}: port {CPU_PORT} is the CPU port")
        ref = PortRef(switch, port)
        if ref in taken:
            raise r.fail(f["port"], f"hypervisor {name}: port {ref} is {taken[ref]}'s")
        taken[ref] = f"hypervisor {name}"
        vms, memory = _capacity(r, f["capacity"], name) if "capacity" in f else (None, None)
        out[name] = Hypervisor(name, ref, vms, memory)
    return out


def _capacity(r: Reader, node: yaml.Node, name: str) -> tuple[int | None, int | None]:
    what = f"hypervisor {name}: capacity"
    if isinstance(node, yaml.ScalarNode):
        return r.integer(node, f"{what} (VMs)", 0, 2**31), None
    f = r.fields(node, what, set(), {"vms", "memory_mb"})
    return (r.integer(f["vms"], f"{what}: vms", 0, 2**31) if "vms" in f else None,
            r.integer(f["memory_mb"], f"{what}: memory_mb", 0, 2**40)
            if "memory_mb" in f else None)


def _placement(r: Reader, node: yaml.Node, what: str,
               hypervisors: Mapping[str, Hypervisor]) -> PlacementSpec:
    items = r.mapping(node, f"{what}: placement")
    if "policy" not in items:
        raise r.fail(node, f"{what}: placement: missing field policy (a mobility manager's "
                           "name, e.g. follow-clients)")
    policy = r.scalar(items["policy"][1], f"{what}: placement: policy")
    params: list[tuple[str, float]] = []
    allowed: tuple[str, ...] = ()
    for key, (_, value) in items.items():
        if key == "policy":
            continue
        if key == "hypervisors":
            allowed = tuple(r.scalar(h, f"{what}: placement: hypervisors")
                            for h in r.sequence(value, f"{what}: placement: hypervisors"))
            for h, hnode in zip(allowed, r.sequence(value, "hypervisors"), strict=True):
                if h not in hypervisors:
                    raise r.fail(hnode, f"{what}: placement: no hypervisor {h!r} "
                                        f"(hypervisors: {', '.join(sorted(hypervisors))})")
            continue
        text = r.scalar(value, f"{what}: placement: {key}")
        try:
            number = float(text)
        except ValueError:
            raise r.fail(value, f"{what}: placement: {key} must be a number, not {text!r}"
                         ) from None
        if not (number >= 0 and number != float("inf")):
            raise r.fail(value, f"{what}: placement: {key} must be a number >= 0")
        params.append((key, number))
    line = node.start_mark.line + 1
    return PlacementSpec(policy, tuple(params), allowed, f"{r.origin}:{line}")


def _check_capacity(r: Reader, node: yaml.Node | None, vms: Mapping[str, VM],
                    hypervisors: Mapping[str, Hypervisor]) -> None:
    """No hypervisor holds more VMs, or more memory, than its capacity."""
    for h in hypervisors.values():
        mine = [vm for vm in vms.values() if vm.role == "vm" and vm.hypervisor == h.name]
        if h.max_vms is not None and len(mine) > h.max_vms:
            raise r.fail(node, f"hypervisor {h.name}: capacity {h.max_vms} VMs, but "
                               f"{len(mine)} are declared there "
                               f"({', '.join(vm.name for vm in mine)})")
        memory = sum(vm.memory_mb for vm in mine)
        if h.max_memory_mb is not None and memory > h.max_memory_mb:
            raise r.fail(node, f"hypervisor {h.name}: capacity {h.max_memory_mb} MB, but its "
                               f"VMs take {memory} MB")


def _vnets(r: Reader, node: yaml.Node | None) -> dict[str, VNet]:
    if node is None:
        return {}
    out: dict[str, VNet] = {}
    ids: dict[int, str] = {}
    for name, (_, value) in r.mapping(node, "vnets").items():
        f = r.fields(value, f"vnet {name}", {"id"}, {"gateway_mac"})
        vid = r.integer(f["id"], f"vnet {name}: id", 1, 4095)
        if vid in ids:
            raise r.fail(f["id"], f"vnet {name}: id {vid} is vnet {ids[vid]}'s already")
        ids[vid] = name
        gw = r.mac(f["gateway_mac"], f"vnet {name}: gateway_mac") if "gateway_mac" in f else None
        out[name] = VNet(name, vid, gw)
    return out


def _vms(r: Reader, sections: list[tuple[str, yaml.Node | None]], vnets: Mapping[str, VNet],
         hypervisors: Mapping[str, Hypervisor]) -> dict[str, VM]:
    """The hosts of the `vms` and `clients` sections: one namespace of names, MACs and
    addresses (a client is a host like a VM)."""
    out: dict[str, VM] = {}
    macs: dict[tuple[str, str], str] = {}
    ips: dict[tuple[str, str], str] = {}
    for role, node in sections:
        if node is None:
            continue
        for name, (key, value) in r.mapping(node, f"{role}s").items():
            what = f"{role} {name}"
            if name in out:
                raise r.fail(key, f"{what}: the name is {out[name].role} {name}'s already")
            f = r.fields(value, what, {"vnet", "mac", "ip", "hypervisor"},
                         {"memory_mb", "placement"} if role == "vm" else set())
            vnet = r.scalar(f["vnet"], f"{what}: vnet")
            if vnet not in vnets:
                raise r.fail(f["vnet"], f"{what}: no vnet {vnet!r}")
            hyp = r.scalar(f["hypervisor"], f"{what}: hypervisor")
            if hyp not in hypervisors:
                raise r.fail(f["hypervisor"], f"{what}: no hypervisor {hyp!r}")
            mac = r.mac(f["mac"], f"{what}: mac")
            ip, prefix = r.ipv4_prefix(f["ip"], f"{what}: ip")
            if (vnet, mac) in macs:
                raise r.fail(f["mac"], f"{what}: MAC {mac} is {macs[vnet, mac]}'s in vnet {vnet}")
            if (vnet, ip) in ips:
                raise r.fail(f["ip"], f"{what}: IP {ip} is {ips[vnet, ip]}'s in vnet {vnet}")
            macs[vnet, mac] = ips[vnet, ip] = what
            memory = (r.integer(f["memory_mb"], f"{what}: memory_mb", 0, 2**40)
                      if "memory_mb" in f else 0)
            placement = (_placement(r, f["placement"], what, hypervisors)
                         if "placement" in f else None)
            out[name] = VM(name, vnet, mac, ip, hyp, prefix, role, memory, placement)
    return out


def to_yaml(topo: Topology) -> str:
    """The topology as a file `parse_topology` reads back equal (the lab writes the
    controller's topology this way, with the addresses it assigned)."""
    def underlay(u: Underlay) -> dict[str, object]:
        out: dict[str, object] = {"ip": u.ip, "port": u.port}
        if u.mac:
            out["mac"] = u.mac
        if u.next_hop_mac:
            out["next_hop_mac"] = u.next_hop_mac
        return out

    doc: dict[str, object] = {
        "sites": {site: {} for site in topo.sites},
        "switches": {
            s.name: {"site": s.site,
                     **({"device_id": s.device_id, "grpc_addr": s.grpc_addr}
                        if s.grpc_addr else {}),
                     **({"underlay": underlay(s.underlay)} if s.underlay else {})}
            for s in topo.switches.values()},
        "links": [[str(x.a), str(x.b)] for x in topo.links],
        "hypervisors": {h.name: {"switch": h.attach.switch, "port": h.attach.port,
                                 **_capacity_yaml(h)}
                        for h in topo.hypervisors.values()},
        "vnets": {v.name: {"id": v.id, **({"gateway_mac": v.gateway_mac}
                                          if v.gateway_mac else {})}
                  for v in topo.vnets.values()},
    }
    for role in ("vm", "client"):
        doc[f"{role}s"] = {
            vm.name: {"vnet": vm.vnet, "mac": vm.mac, "ip": f"{vm.ip}/{vm.prefix}",
                      "hypervisor": vm.hypervisor,
                      **({"memory_mb": vm.memory_mb} if vm.memory_mb else {}),
                      **({"placement": _placement_yaml(vm.placement)} if vm.placement else {})}
            for vm in topo.vms.values() if vm.role == role}
    text: str = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)
    return text


def _capacity_yaml(h: Hypervisor) -> dict[str, object]:
    if h.max_memory_mb is None:
        return {} if h.max_vms is None else {"capacity": h.max_vms}
    return {"capacity": {"memory_mb": h.max_memory_mb,
                         **({"vms": h.max_vms} if h.max_vms is not None else {})}}


def _placement_yaml(p: PlacementSpec) -> dict[str, object]:
    return {"policy": p.policy, **dict(p.params),
            **({"hypervisors": list(p.hypervisors)} if p.hypervisors else {})}


__all__ = [   # the parts (ctrl/control/fabric.py) are read from here, as before
    "CPU_PORT", "MAX_PORT", "SECTIONS", "VM", "Hypervisor", "Link", "PlacementSpec",
    "PortRef", "Reader", "Switch", "Topology", "TopologyError", "Underlay", "VNet",
    "compose", "load_topology", "parse_topology", "to_yaml",
]
