"""k-ary fat-trees, for scale: lab topologies (`ctrl lab up fat-tree:4`), and the same
fabric built directly for the controller with thousands of hosts (`fat_tree_topology`,
`scale_hosts`), where a YAML file of 100,000 VMs would take longer to read than to use.

A k-ary fat-tree (k even) has (k/2)^2 core switches and k pods of k/2
aggregation and k/2 edge switches: 5k^2/4 switches. Edge switch ports 1..k/2 go
up to the pod's aggregation switches, ports k/2+1..k down to hypervisors;
aggregation switch ports 1..k/2 go down, k/2+1..k up to the core. One site; the
lab's fat-tree has one virtual network, `vms` VMs spread over the hypervisors of
different pods, and its demo moves the second one to a hypervisor in the last pod.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import yaml

from ctrl.control.topology import VM, Hypervisor, Link, PortRef, Switch, Topology, VNet
from ctrl.lab.spec import LabError

GATEWAY_MAC = "02:00:00:00:00:fe"
PLACEMENTS = ("spread", "pod")   # hosts of a network anywhere, or in one pod
MAX_K = 16


@dataclass(frozen=True, slots=True)
class FatTree:
    """The fabric of a k-ary fat-tree: switch names, links and hypervisor ports."""

    k: int
    switches: tuple[str, ...]
    links: tuple[tuple[PortRef, PortRef], ...]
    hypervisors: tuple[tuple[str, PortRef], ...]   # name, where it attaches, pod by pod

    @classmethod
    def of(cls, k: int) -> FatTree:
        if k < 2 or k % 2 or k > MAX_K:
            raise LabError(f"a fat-tree needs an even k in 2..{MAX_K}, not {k}")
        half = k // 2
        switches = [f"c{c}" for c in range(half * half)]
        links: list[tuple[PortRef, PortRef]] = []
        hypervisors: list[tuple[str, PortRef]] = []
        for pod in range(k):
            for j in range(half):
                switches += [f"p{pod}a{j}", f"p{pod}e{j}"]
            for j in range(half):
                agg = f"p{pod}a{j}"
                for m in range(half):
                    links.append((PortRef(f"p{pod}e{m}", j + 1), PortRef(agg, m + 1)))
                    links.append((PortRef(agg, half + m + 1), PortRef(f"c{j * half + m}",
                                                                     pod + 1)))
                for m in range(half):
                    hypervisors.append((f"h{pod}-{j}-{m}", PortRef(f"p{pod}e{j}", half + m + 1)))
        return cls(k, tuple(switches), tuple(links), tuple(hypervisors))

    @property
    def per_pod(self) -> int:
        """Hypervisors in a pod."""
        return (self.k // 2) ** 2

    def pod_of(self, index: int) -> int:
        return index // self.per_pod


def fat_tree_yaml(k: int, vms: int = 2) -> str:
    tree = FatTree.of(k)
    names = [h for h, _ in tree.hypervisors]
    if not 2 <= vms <= min(len(names), 250):
        raise LabError(f"a k={k} fat-tree takes 2..{min(len(names), 250)} VMs, not {vms}")
    # VM i on pod i mod k: consecutive VMs are in different pods.
    order = [names[(i % k) * tree.per_pod + (i // k) % tree.per_pod] for i in range(vms)]
    target = names[-1] if order[1] != names[-1] else names[-2]
    doc = {
        "name": f"fat-tree-{k}",
        **_fabric(tree),
        "vnets": {"tenant": {"id": 10, "gateway_mac": GATEWAY_MAC}},
        "vms": {f"vm{i + 1}": {"vnet": "tenant", "mac": f"02:00:00:00:{(i + 1) >> 8:02x}:"
                               f"{(i + 1) & 0xFF:02x}", "ip": f"10.0.{i // 250}.{i % 250 + 1}/16",
                               "hypervisor": order[i]} for i in range(vms)},
        "lab": {"probe": {"from": "vm1", "to": "vm2"},
                "demo": [{"vm": "vm2", "to": target, "label": f"vm2 to {target}"}]},
    }
    return _yaml(tree, doc)


def _fabric(tree: FatTree) -> dict[str, object]:
    return {"switches": {s: {} for s in tree.switches},
            "links": [[str(a), str(b)] for a, b in tree.links],
            "hypervisors": {h: {"switch": at.switch, "port": at.port}
                            for h, at in tree.hypervisors}}


def _yaml(tree: FatTree, doc: Mapping[str, object]) -> str:
    text: str = yaml.safe_dump(dict(doc), sort_keys=False, default_flow_style=None)
    return (f"# a k={tree.k} fat-tree: {len(tree.switches)} switches, "
            f"{len(tree.hypervisors)} hypervisors\n" + text)


def storm_yaml(name: str, hosts: ScaleHosts,
               pairs: Sequence[tuple[ScaleHost, ScaleHost]] = ()) -> str:
    """A lab of `hosts` on their fat-tree: the VMs of the probe's `pairs` namespaces (the
    first pair the lab's probe), every other one light (a MAC and an address, no
    namespace: `lab: light`)."""
    probed = {h.mac for pair in pairs for h in pair}
    tree = FatTree.of(hosts.k)
    doc = {
        "name": name,
        **_fabric(tree),
        "vnets": {f"t{v}": {"id": v, "gateway_mac": GATEWAY_MAC} for v in sorted(hosts.owned)},
        "vms": {h.name: {"vnet": f"t{h.vnet}", "mac": _mac(h.mac),
                         "ip": f"{ipaddress.IPv4Address(h.ip)}/8", "hypervisor": h.hypervisor}
                for h in hosts.hosts},
    }
    lab: dict[str, object] = {}
    if pairs:
        lab["probe"] = {"from": pairs[0][0].name, "to": pairs[0][1].name}
    lab["light"] = [h.name for h in hosts.hosts if h.mac not in probed]
    return _yaml(tree, {**doc, "lab": lab})


@dataclass(frozen=True, slots=True)
class ScaleHost:
    """A host of a scale run: its virtual network's id, MAC, IPv4 and hypervisor."""

    vnet: int
    mac: int
    ip: int
    hypervisor: str

    @property
    def name(self) -> str:
        return f"vm{self.mac & 0xFFFFFFFF:x}"


@dataclass(frozen=True, slots=True)
class ScaleHosts:
    """Hosts on a fat-tree, and the hypervisors each virtual network owns (a hypervisor's
    switch port is an access port of one network, so networks do not share one)."""

    k: int
    hosts: tuple[ScaleHost, ...]
    owned: dict[int, tuple[str, ...]]   # vnet -> its hypervisors

    def moves(self, count: int, seed: int = 2, at: Mapping[int, str] | None = None,
              skip: Collection[int] = ()) -> list[tuple[ScaleHost, str]]:
        """`count` different hosts, each to another hypervisor of its own network than
        the one it is at (`at`: MAC -> hypervisor now, for hosts moved since; hosts of a
        network with one hypervisor stay out of it, and those whose MAC is in `skip`).
        Deterministic."""
        where = at or {}
        rng = random.Random(seed)
        movable = [h for h in self.hosts if len(self.owned[h.vnet]) > 1 and h.mac not in skip]
        if count > len(movable):
            raise LabError(f"{count} moves asked for, {len(movable)} hosts can move (a "
                           "network needs two hypervisors or more)")
        out = []
        for h in rng.sample(movable, count):
            out.append((h, self.elsewhere(h, rng, where)))
        return out

    def elsewhere(self, host: ScaleHost, rng: random.Random,
                  at: Mapping[int, str] | None = None) -> str:
        """Another hypervisor of `host`'s network than the one it is at (`at`, as for
        `moves`), at random."""
        now = (at or {}).get(host.mac, host.hypervisor)
        return rng.choice([x for x in self.owned[host.vnet] if x != now])

    def probe_pairs(self, count: int) -> list[tuple[ScaleHost, ScaleHost]]:
        """`count` pairs of hosts for the probe, each two of one network on different
        hypervisors (the first such host after the last pair's, and the next one of its
        network elsewhere). Deterministic."""
        out: list[tuple[ScaleHost, ScaleHost]] = []
        taken: set[int] = set()
        for a in self.hosts:
            if len(out) == count:
                break
            if a.mac in taken:
                continue
            b = next((h for h in self.hosts if h.vnet == a.vnet and h.mac not in taken
                      and h.mac != a.mac and h.hypervisor != a.hypervisor), None)
            if b is not None:
                out.append((a, b))
                taken |= {a.mac, b.mac}
        if len(out) < count:
            raise LabError(f"{count} probe pairs asked for, {len(out)} found (two hosts of "
                           "a network on different hypervisors each)")
        return out


def scale_hosts(k: int, count: int, vnets: int = 1, placement: str = "spread",
                seed: int = 1) -> ScaleHosts:
    """`count` hosts on a k-ary fat-tree in `vnets` virtual networks (ids 1..), each
    owning an equal share of the hypervisors: spread, anywhere in the fabric; pod,
    within one pod, as a scheduler keeps a tenant together. Hosts dealt round-robin to
    the networks and at random to their hypervisors. Addresses 10.x.y.z, one /8 for
    all (each network routes its own); MACs 02:00 + the host's number. Deterministic."""
    if placement not in PLACEMENTS:
        raise LabError(f"placement {placement!r}: one of {', '.join(PLACEMENTS)}")
    tree = FatTree.of(k)
    names = [h for h, _ in tree.hypervisors]
    if not 1 <= vnets <= min(4095, len(names)):
        raise LabError(f"{vnets} virtual networks on {len(names)} hypervisors: 1 to "
                       f"{min(4095, len(names))} (one network to a hypervisor's port)")
    if not 1 <= count < 1 << 24:
        raise LabError(f"1 to {(1 << 24) - 1:,} hosts (10.0.0.0/8), not {count:,}")
    rng = random.Random(seed)
    owned: dict[int, list[str]] = {v: [] for v in range(1, vnets + 1)}
    if placement == "pod":
        pods = [list(names[p * tree.per_pod:(p + 1) * tree.per_pod]) for p in range(k)]
        share = [[v for v in owned if (v - 1) % k == p] for p in range(k)]
        for p in range(k):
            if share[p] and len(share[p]) > len(pods[p]):
                raise LabError(f"{vnets} networks in pods of {tree.per_pod} hypervisors: "
                               f"at most {k * tree.per_pod}")
            rng.shuffle(pods[p])
            for i, hv in enumerate(pods[p]):
                if share[p]:
                    owned[share[p][i % len(share[p])]].append(hv)
    else:
        shuffled = list(names)
        rng.shuffle(shuffled)
        for i, hv in enumerate(shuffled):
            owned[i % vnets + 1].append(hv)
    hosts = []
    for i in range(count):
        vnet = i % vnets + 1
        hosts.append(ScaleHost(vnet, 0x020000000000 + i + 1, (10 << 24) + i + 1,
                               rng.choice(owned[vnet])))
    return ScaleHosts(k, tuple(hosts), {v: tuple(hv) for v, hv in owned.items()})


def vnet_ids(hosts: Iterable[ScaleHost]) -> Iterator[int]:
    seen: set[int] = set()
    for h in hosts:
        if h.vnet not in seen:
            seen.add(h.vnet)
            yield h.vnet


def fat_tree_topology(k: int, *, addresses: Iterator[tuple[str, int]] | None = None,
                      hosts: Iterable[ScaleHost] = (), vnets: int = 1) -> Topology:
    """The controller's topology of a k-ary fat-tree: `addresses` gives each switch's
    (grpc_addr, device_id) in the order of FatTree.switches (default: 127.0.0.1:1,
    device ids 1, 2, ...); `hosts` become its VMs (ScaleHost, prefix /8), and their
    virtual networks (or `vnets` of them, ids 1..), each with the gateway MAC."""
    tree = FatTree.of(k)
    addrs = addresses or iter([("127.0.0.1:1", i + 1) for i in range(len(tree.switches))])
    switches = {}
    for name in tree.switches:
        addr, device = next(addrs)
        switches[name] = Switch(name, "default", device, addr)
    hosts = list(hosts)
    ids = sorted(vnet_ids(hosts)) if hosts else list(range(1, vnets + 1))
    nets = {f"t{v}": VNet(f"t{v}", v, GATEWAY_MAC) for v in ids}
    vms = {h.name: VM(h.name, f"t{h.vnet}", _mac(h.mac), str(ipaddress.IPv4Address(h.ip)),
                      h.hypervisor, 8) for h in hosts}
    return Topology(("default",), switches, tuple(Link(a, b) for a, b in tree.links),
                    {h: Hypervisor(h, at) for h, at in tree.hypervisors}, nets, vms)


def _mac(n: int) -> str:
    return ":".join(f"{b:02x}" for b in n.to_bytes(6, "big"))
