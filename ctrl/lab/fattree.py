"""k-ary fat-trees as lab topologies, for scale: `ctrl lab up fat-tree:4`.

A k-ary fat-tree (k even) has (k/2)^2 core switches and k pods of k/2
aggregation and k/2 edge switches: 5k^2/4 switches. Edge switch ports 1..k/2 go
up to the pod's aggregation switches, ports k/2+1..k down to hypervisors;
aggregation switch ports 1..k/2 go down, k/2+1..k up to the core. One site, one
virtual network; `vms` VMs are spread over the hypervisors of different pods,
and the demo moves the second one to a hypervisor in the last pod.
"""

from __future__ import annotations

import yaml

from ctrl.lab.spec import LabError


def fat_tree_yaml(k: int, vms: int = 2) -> str:
    if k < 2 or k % 2 or k > 16:
        raise LabError(f"a fat-tree needs an even k in 2..16, not {k}")
    half = k // 2
    hypervisor_count = k * half * half
    if not 2 <= vms <= min(hypervisor_count, 250):
        raise LabError(f"a k={k} fat-tree takes 2..{min(hypervisor_count, 250)} VMs, not {vms}")
    switches: dict[str, dict[str, object]] = {}
    links: list[list[str]] = []
    hypervisors: dict[str, dict[str, object]] = {}
    for c in range(half * half):
        switches[f"c{c}"] = {}
    for pod in range(k):
        for j in range(half):
            agg, edge = f"p{pod}a{j}", f"p{pod}e{j}"
            switches[agg] = {}
            switches[edge] = {}
        for j in range(half):
            agg = f"p{pod}a{j}"
            for m in range(half):
                links.append([f"p{pod}e{m}:{j + 1}", f"{agg}:{m + 1}"])
                links.append([f"{agg}:{half + m + 1}", f"c{j * half + m}:{pod + 1}"])
            for m in range(half):
                hypervisors[f"h{pod}-{j}-{m}"] = {"switch": f"p{pod}e{j}", "port": half + m + 1}
    names = list(hypervisors)
    # VM i on pod i mod k: consecutive VMs are in different pods.
    order = [names[(i % k) * half * half + (i // k) % (half * half)] for i in range(vms)]
    target = names[-1] if order[1] != names[-1] else names[-2]
    doc = {
        "name": f"fat-tree-{k}",
        "switches": switches,
        "links": links,
        "hypervisors": hypervisors,
        "vnets": {"tenant": {"id": 10, "gateway_mac": "02:00:00:00:00:fe"}},
        "vms": {f"vm{i + 1}": {"vnet": "tenant", "mac": f"02:00:00:00:{(i + 1) >> 8:02x}:"
                               f"{(i + 1) & 0xFF:02x}", "ip": f"10.0.{i // 250}.{i % 250 + 1}/16",
                               "hypervisor": order[i]} for i in range(vms)},
        "lab": {"probe": {"from": "vm1", "to": "vm2"},
                "demo": [{"vm": "vm2", "to": target, "label": f"vm2 to {target}"}]},
    }
    text: str = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)
    return f"# a k={k} fat-tree: {len(switches)} switches, {len(names)} hypervisors\n" + text
