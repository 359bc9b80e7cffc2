"""Lab files: the shipped topologies, the fat-tree generator, and every fault named."""

from __future__ import annotations

import ipaddress

import pytest

from ctrl.control.topology import TopologyError
from ctrl.lab.cli import read_topology, shipped
from ctrl.lab.fattree import fat_tree_yaml, scale_hosts, storm_yaml
from ctrl.lab.spec import GRE_MTU, PLAIN_MTU, LabError, parse_lab


def lab(name: str, target: str = "ovs"):  # type: ignore[no-untyped-def]
    text, origin = read_topology(name)
    return parse_lab(text, origin, target=target, tag="lzz")


def test_every_shipped_topology_loads_on_both_targets() -> None:
    assert {"stanford", "cloud-rack", "fat-tree:K"} <= set(shipped())
    for name in [*shipped()[:-1], "fat-tree:4"]:
        for target in ("ovs", "bmv2"):
            spec = lab(name, target)
            names = [sw.ports[p] for sw in spec.switches.values() for p in sw.ports]
            assert len(names) == len(set(names))          # unique in the root namespace
            assert all(len(n) <= 15 for n in names)
            assert len(set(spec.namespaces())) == len(spec.namespaces())


def test_stanford_two_buildings_two_subnets_wireless_clients() -> None:
    spec = lab("stanford")
    assert len(spec.switches) >= 5
    buildings = {name.split("-")[0] for name in spec.switches}
    assert buildings == {"g", "p"}
    subnets = {ipaddress.IPv4Interface(f"{h.ip}/{h.prefix}").network
               for h in spec.hosts.values()}
    assert len(subnets) >= 2
    assert {h.role for h in spec.hosts.values()} == {"vm", "client"}
    assert all(spec.hosts[c].hypervisor.startswith("ap-") for c in spec.hosts
               if spec.hosts[c].role == "client")
    assert spec.wan is None and spec.site_ns == {"default": "stanford-site-default"}
    assert lab("stanford", "bmv2").site_ns == {}
    assert all(h.mtu == PLAIN_MTU for h in spec.hosts.values())
    vm = spec.hosts["game-server"]
    assert vm.gateway == "10.1.0.254" and vm.ns == "stanford-vm-game-server"


def test_cloud_rack_two_campuses_a_wan_and_three_servers() -> None:
    spec = lab("cloud-rack")
    assert spec.topology.sites == ("campus-a", "campus-b")
    assert sorted(spec.hypervisors) == ["desk", "server1", "server2", "server3"]
    assert spec.wan is not None and len(spec.wan.ports) == 2
    for port in spec.wan.ports:
        router = ipaddress.IPv4Interface(port.router_ip)
        assert router.network.prefixlen == 31
        assert ipaddress.IPv4Address(port.gateway_ip) in router.network
        underlay = spec.topology.switches[port.switch].underlay
        assert underlay is not None
        assert (underlay.mac, underlay.next_hop_mac) == (port.gateway_mac, port.router_mac)
    assert all(h.mtu == GRE_MTU for h in spec.hosts.values())
    # OVS: one namespace, one P4Runtime server per site; bmv2: one server per switch.
    assert set(spec.site_ns) == {"campus-a", "campus-b"}
    assert len({sw.grpc_addr for sw in spec.switches.values()}) == 2
    assert {(sw.grpc_addr, sw.device_id) for sw in spec.switches.values()} == {
        (sw.grpc_addr, sw.device_id) for sw in spec.topology.switches.values()}
    bmv2 = lab("cloud-rack", "bmv2")
    assert bmv2.site_ns == {} and all(sw.ns is None for sw in bmv2.switches.values())
    assert len({sw.grpc_addr for sw in bmv2.switches.values()}) == 3
    assert [d.to for d in spec.demo] == ["server1", "server3"] and spec.probe == ("user", "vm2")


@pytest.mark.parametrize("k", [2, 4, 6])
def test_fat_tree(k: int) -> None:
    spec = parse_lab(fat_tree_yaml(k, vms=min(3, k ** 3 // 4)), f"fat-tree:{k}")
    assert len(spec.switches) == 5 * k * k // 4
    assert len(spec.hypervisors) == k ** 3 // 4
    degree: dict[str, int] = {}
    for link in spec.topology.links:
        for ref in (link.a, link.b):
            degree[ref.switch] = degree.get(ref.switch, 0) + 1
    assert all(degree[s] == (k // 2 if s.startswith("p") and "e" in s else k)
               for s in spec.switches)
    step = spec.demo[0]
    assert spec.hosts[step.vm].hypervisor != step.to


@pytest.mark.parametrize(("k", "vms"), [(3, 2), (0, 2), (18, 2), (2, 9)])
def test_fat_tree_refuses_what_it_cannot_build(k: int, vms: int) -> None:
    with pytest.raises(LabError, match="fat-tree"):
        fat_tree_yaml(k, vms)


BASE = """\
name: t
switches:
  s1: {}
  s2: {}
links:
  - [s1:1, s2:1]
hypervisors:
  h1: {switch: s1, port: 2}
  h2: {switch: s2, port: 2}
vnets:
  blue: {id: 10, gateway_mac: "02:00:00:00:00:fe"}
  red: {id: 20}
vms:
  vm1: {vnet: blue, mac: "02:00:00:00:01:01", ip: 10.0.0.1/24, hypervisor: h1}
  vm2: {vnet: blue, mac: "02:00:00:00:01:02", ip: 10.0.0.2/24, hypervisor: h2}
lab:
  probe: {from: vm1, to: vm2}
  demo:
    - {vm: vm2, to: h1}
"""


def test_a_plain_lab_file() -> None:
    spec = parse_lab(BASE, "t.yaml", tag="lzz")
    assert spec.demo[0].label == "vm2 -> h1"
    assert spec.switches["s2"].ports == {1: "lzz1p1", 2: "lzz1p2"}
    assert spec.hypervisors["h2"].uplink[0].ifname == "lzz1p2"
    assert spec.topology.switches["s2"].grpc_addr == "127.0.0.1:50001"
    assert spec.topology.switches["s2"].device_id == 2


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("probe: {from: vm1, to: vm2}", "probe: {from: vm1, to: vm9}", "t.yaml:17: lab: probe: "
         "to: no VM or client 'vm9'"),
        ("probe: {from: vm1, to: vm2}", "probe: {from: vm1, to: vm1}", "its two ends are one"),
        ("- {vm: vm2, to: h1}", "- {vm: vm2, to: h7}", "t.yaml:19: lab: demo: no hypervisor"),
        ("- {vm: vm2, to: h1}", "- {vm: vm2, to: h1, when: now}", "unknown field 'when'"),
        ("name: t", "name: t/x", "lab name 't/x'"),
        ("ip: 10.0.0.2/24", "ip: 10.0.0.254/24", "which the lab gives to the gateway"),
        ("ip: 10.0.0.2/24", "ip: 10.0.0.2/31", "leaves no address for the gateway"),
        ("vm2: {vnet: blue, mac: \"02:00:00:00:01:02\", ip: 10.0.0.2/24, hypervisor: h2}",
         "vm2: {vnet: red, mac: \"02:00:00:00:01:02\", ip: 10.0.0.2/24, hypervisor: h1}",
         "share hypervisor h1"),
    ],
)
def test_bad_lab_files_say_what_is_wrong(old: str, new: str, message: str) -> None:
    assert old in BASE
    with pytest.raises((LabError, TopologyError), match=message.replace("(", r"\(")):
        parse_lab(BASE.replace(old, new), "t.yaml", tag="lzz")


def test_unknown_target_and_unreadable_topology() -> None:
    with pytest.raises(LabError, match="unknown target 'p4'"):
        parse_lab(BASE, "t.yaml", target="p4")
    with pytest.raises(LabError, match="shipped topologies: cloud-rack, stanford"):
        read_topology("/nonexistent/lab.yaml")
    with pytest.raises(LabError, match="give the fat-tree's k"):
        read_topology("fat-tree:x")


def test_with_qemu_guests_the_vms_have_no_namespace_and_clients_keep_theirs() -> None:
    netns_spec = lab("cloud-rack")
    spec = parse_lab(*read_topology("cloud-rack"), guests="qemu")
    assert spec.guests == "qemu"
    assert {n for n, h in spec.hosts.items() if h.guest} == {"vm1", "vm2"}
    assert spec.hosts["user"].ns == netns_spec.hosts["user"].ns and not spec.hosts["user"].guest
    assert spec.hosts["vm2"].ns == "" and spec.hosts["vm2"].port_name == "v2"
    assert set(netns_spec.namespaces()) - set(spec.namespaces()) == {
        netns_spec.hosts["vm1"].ns, netns_spec.hosts["vm2"].ns}
    for name in ("vm2", "user"):   # the same address, MAC and MTU either way
        a, b = spec.hosts[name], netns_spec.hosts[name]
        assert (a.mac, a.ip, a.prefix, a.gateway, a.mtu) == (b.mac, b.ip, b.prefix,
                                                             b.gateway, b.mtu)
    with pytest.raises(LabError, match="unknown kind of guest 'xen'"):
        parse_lab(BASE, "t.yaml", guests="xen")


def test_stanford_roams() -> None:
    roam = lab("stanford").roam
    assert roam is not None
    assert (roam.server, roam.players, roam.access_points, roam.oscillate) == (
        "game-server", (("laptop", 100.0), ("phone", 200.0)), ("ap-packard", "ap-gates"),
        "phone")
    assert lab("cloud-rack").roam is None


@pytest.mark.parametrize(("old", "new", "message"), [
    ("server: game-server", "server: laptop", "must be a VM with a `placement` policy"),
    ("players: {laptop: 100, phone: 200}", "players: {laptop: 100, nobody: 2}",
     "no VM or client 'nobody'"),
    ("players: {laptop: 100, phone: 200}", "players: {laptop: 0, phone: 200}",
     "must be in 1..10000"),
    ("access_points: [ap-packard, ap-gates]", "access_points: [ap-packard, ap-mars]",
     "no hypervisor 'ap-mars'"),
    ("access_points: [ap-packard, ap-gates]", "access_points: [ap-gates]",
     "two access points at least"),
    ("oscillate: phone", "oscillate: game-server", "game-server is no player"),
])
def test_a_bad_roam_says_why(old: str, new: str, message: str) -> None:
    text, origin = read_topology("stanford")
    assert old in text
    with pytest.raises((LabError, TopologyError), match=message.replace("(", r"\(")):
        parse_lab(text.replace(old, new), origin)
def test_on_dpdk_with_qemu_guests_each_hypervisor_has_a_virtual_switch() -> None:
    text, origin = read_topology("cloud-rack")
    plain = parse_lab(text, origin, tag="lzz", guests="qemu")
    spec = parse_lab(text, origin, tag="lzz", guests="qemu", datapath="dpdk")
    assert spec.vhost and not plain.vhost
    assert not parse_lab(text, origin, tag="lzz", datapath="dpdk").vhost   # namespaces
    assert spec.namespaces() == plain.namespaces()
    hv = spec.hypervisors["server2"]
    assert hv.vswitch == "lzzh1" and plain.hypervisors["server2"].vswitch is None
    # Its switch port is the patch to the virtual switch; the veth from br0 is the switch's.
    assert spec.switches["a2"].ports[2] == "lzzh1-up"
    assert hv.uplink[0].ifname == "lzzh1u" and hv.uplink[0].ns == spec.switches["a2"].ns
    assert hv.uplink[1] == plain.hypervisors["server2"].uplink[1]
    # Other ports are as they were; a guest's port is unique in its site's ovs-vswitchd.
    assert spec.switches["a1"].ports[1] == plain.switches["a1"].ports[1]
    assert hv.guest_port(spec.hosts["vm2"]) == "lzzh1v2"
    assert plain.hypervisors["server2"].guest_port(plain.hosts["vm2"]) == "v2"
    names = [hv.guest_port(spec.hosts["vm2"]) for hv in spec.hypervisors.values()]
    assert len(set(names)) == len(names) and all(len(n) <= 15 for n in names)
    with pytest.raises(LabError, match="is the Open vSwitch target's; bmv2 has none"):
        parse_lab(text, origin, target="bmv2", datapath="dpdk")
    with pytest.raises(LabError, match="unknown datapath 'xdp'"):
        parse_lab(text, origin, datapath="xdp")


def _storm_lab(vms: int = 30) -> str:
    hosts = scale_hosts(4, vms, 2, "spread", 3)
    pairs = hosts.probe_pairs(2)
    return storm_yaml("stormx", hosts, pairs)


def test_a_storm_lab_makes_namespaces_for_the_probed_vms_only() -> None:
    text = _storm_lab()
    spec = parse_lab(text, "storm.yaml", tag="lzz")
    assert len(spec.hosts) == 4 and len(spec.light) == 26
    assert len(spec.topology.vms) == 30       # the controller knows every one
    assert not set(spec.hosts) & set(spec.light)
    assert all(h.ns == "" and not h.guest for h in spec.light.values())
    made = set(spec.namespaces())
    assert all(h.ns in made for h in spec.hosts.values())
    assert len(made) == len(spec.hypervisors) + 1 + 4     # the site, hypervisors, 4 VMs
    first = scale_hosts(4, 30, 2, "spread", 3).probe_pairs(1)[0]
    assert spec.probe == (first[0].name, first[1].name)
    light = next(iter(spec.light))
    with pytest.raises(LabError, match="light VM"):
        spec.host(light)


def test_light_vms_are_checked() -> None:
    text = _storm_lab()
    spec = parse_lab(text, "storm.yaml")
    light, vm = next(iter(spec.light)), next(iter(spec.hosts))
    for bad, why in ((f"[{light}, {light}]", "twice"), ("[nosuch]", "no VM 'nosuch'"),
                     ("nosuch", "must be a list")):
        edited = text.replace("light: [", "light: [", 1).split("  light:")[0] + \
            f"  light: {bad}\n"
        with pytest.raises(TopologyError, match=why):
            parse_lab(edited, "storm.yaml")
    with_probe = text.split("  probe:")[0] + f"  light: [{light}]\n" + \
        f"  probe: {{from: {vm}, to: {light}}}\n"
    with pytest.raises(TopologyError, match="is light"):
        parse_lab(with_probe, "storm.yaml")


def test_probe_pairs_and_moves_leave_the_probed_alone() -> None:
    hosts = scale_hosts(4, 40, 2, "spread", 1)
    pairs = hosts.probe_pairs(3)
    for a, b in pairs:
        assert a.vnet == b.vnet and a.hypervisor != b.hypervisor
    probed = {h.mac for p in pairs for h in p}
    assert len(probed) == 6
    moves = hosts.moves(30, 2, skip=probed)
    assert not {h.mac for h, _ in moves} & probed
    assert all(to != h.hypervisor and to in hosts.owned[h.vnet] for h, to in moves)
    with pytest.raises(LabError, match="can move"):
        hosts.moves(35, 2, skip=probed)
    with pytest.raises(LabError, match="probe pairs"):
        scale_hosts(4, 2, 2).probe_pairs(1)
