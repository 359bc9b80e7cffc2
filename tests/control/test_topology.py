"""Topology files: a good one loads; every bad one names the file, the line and the fault."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ctrl.control.topology import PortRef, TopologyError, load_topology, parse_topology, to_yaml

GOOD = """\
sites:
  campus-a: {}
  campus-b: {}
switches:
  s1: {site: campus-a, device_id: 1, grpc_addr: "127.0.0.1:50001",
       underlay: {ip: 192.0.2.1, port: 9}}
  s2: {site: campus-a, device_id: 2, grpc_addr: "127.0.0.1:50002"}
  s3: {site: campus-b, device_id: 3, grpc_addr: "127.0.0.1:50003",
       underlay: {ip: 198.51.100.1, port: 9}}
links:
  - [s1:1, s2:1]
hypervisors:
  h1: {switch: s1, port: 3}
  h2: {switch: s2, port: 3}
  h3: {switch: s3, port: 3}
vnets:
  blue: {id: 10, gateway_mac: "02:00:00:00:00:01"}
vms:
  vm1: {vnet: blue, mac: "02:00:00:00:01:01", ip: 10.0.1.1, hypervisor: h1}
  vm2: {vnet: blue, mac: "02:00:00:00:01:02", ip: 10.0.2.1, hypervisor: h3}
"""


def test_good_topology_loads(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(GOOD)
    topo = load_topology(path)
    assert topo.sites == ("campus-a", "campus-b")
    assert topo.switches["s1"].underlay is not None
    assert topo.switches["s1"].underlay.ip == "192.0.2.1"
    assert topo.links[0].a == PortRef("s1", 1)
    assert topo.hypervisors["h2"].attach == PortRef("s2", 3)
    assert topo.vnets["blue"].id == 10
    assert topo.vms["vm2"].hypervisor == "h3"
    assert [s.name for s in topo.switches_of_site("campus-a")] == ["s1", "s2"]


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("  - [s1:1, s2:1]", "  - [s1:1, s9:1]", 11, "no switch 's9'"),
        ("  - [s1:1, s2:1]", "  - [s1:1, s1:2]", 11, "joins a switch to itself"),
        ("  - [s1:1, s2:1]", "  - [s1:1, s2:1]\n  - [s1:1, s3:1]", 12, "used by another link"),
        ("  - [s1:1, s2:1]", "  - [s1:1]", 11, "exactly two ends"),
        ("  - [s1:1, s2:1]", "  - [s1:x, s2:1]", 11, "is not SWITCH:PORT"),
        ("  - [s1:1, s2:1]", "  - [s1:255, s2:1]", 11, "CPU port"),
        ("  h1: {switch: s1, port: 3}", "  h1: {switch: s1, port: 1}", 13, "is a link's"),
        ("  h1: {switch: s1, port: 3}", "  h1: {switch: s1, port: 9}", 13, "is the underlay's"),
        ("  h1: {switch: s1, port: 3}", "  h1: {switch: s7, port: 3}", 13, "no switch 's7'"),
        ("  h1: {switch: s1, port: 3}", "  h1: {switch: s1, prt: 3}", 13, "unknown field 'prt'"),
        ("  blue: {id: 10,", "  blue: {id: 4096,", 17, "must be in 1..4095"),
        ("ip: 10.0.2.1", "ip: 10.0.1.1", 20, "is vm vm1's"),
        ("ip: 10.0.2.1", "ip: 10.0.2.300", 20, "is not an IPv4 address"),
        ('mac: "02:00:00:00:01:02"', 'mac: "03:00:00:00:01:02"', 20, "multicast MAC"),
        ("hypervisor: h3}", "hypervisor: h9}", 20, "no hypervisor 'h9'"),
        ("  s2: {site: campus-a,", "  s2: {site: campus-c,", 7, "no site 'campus-c'"),
        ('device_id: 2, grpc_addr: "127.0.0.1:50002"', 'device_id: 1, grpc_addr: '
         '"127.0.0.1:50001"', 7, "is switch s1 already"),
        ("device_id: 2,", "device_id: two,", 7, "must be a whole number"),
        ("  s2: {site", "  s1: {site", 7, "'s1' is given twice"),
    ],
)
def test_bad_topology_names_line_and_fault(old: str, new: str, line: int, message: str) -> None:
    assert old in GOOD
    with pytest.raises(TopologyError) as exc:
        parse_topology(GOOD.replace(old, new, 1), "lab.yaml")
    text = str(exc.value)
    assert text.startswith(f"lab.yaml:{line}: "), text
    assert message in text


def test_section_of_wrong_kind() -> None:
    text = GOOD.split("vms:")[0] + "vms: [1, 2]\n"
    with pytest.raises(TopologyError, match=r"^lab.yaml:18: vms must be a mapping"):
        parse_topology(text, "lab.yaml")


def test_not_yaml_and_empty() -> None:
    with pytest.raises(TopologyError,
                       match=r"^x.yaml:3: not valid YAML: (did not find )?expected ','"):
        parse_topology("switches:\n  - [unclosed\n", "x.yaml")
    with pytest.raises(TopologyError, match="is empty"):
        parse_topology("", "x.yaml")
    with pytest.raises(TopologyError, match="missing field switches"):
        parse_topology("vms: {}\n", "x.yaml")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="cannot read"):
        load_topology(tmp_path / "none.yaml")


LAB_STYLE = """\
sites: {a: {}, b: {}}
switches:
  s1: {site: a, underlay: {ip: 192.0.2.1, port: 9, mac: "02:00:00:00:ff:01",
                           next_hop_mac: "02:00:00:00:fe:01"}}
  s2: {site: b, underlay: {ip: 198.51.100.1, port: 9}}
hypervisors:
  h1: {switch: s1, port: 3}
  ap: {switch: s2, port: 3}
vnets:
  blue: {id: 10}
vms:
  vm1: {vnet: blue, mac: "02:00:00:00:01:01", ip: 10.0.1.1/25, hypervisor: h1}
clients:
  phone: {vnet: blue, mac: "02:00:00:00:02:01", ip: 10.0.2.7, hypervisor: ap}
lab: {anything: [the lab reads this]}
"""


def test_lab_style_file_clients_prefixes_and_underlay_macs() -> None:
    topo = parse_topology(LAB_STYLE, "lab.yaml", addresses=False)
    assert topo.switches["s1"].grpc_addr == "" and topo.switches["s1"].device_id == 1
    assert topo.vms["vm1"].prefix == 25 and topo.vms["vm1"].role == "vm"
    assert topo.vms["phone"].prefix == 24 and topo.vms["phone"].role == "client"
    u = topo.switches["s1"].underlay
    assert u is not None and u.next_hop_mac == "02:00:00:00:fe:01"
    with pytest.raises(TopologyError, match=r"lab.yaml:3: switch s1: missing field"):
        parse_topology(LAB_STYLE, "lab.yaml")  # the controller needs the addresses


def test_to_yaml_reads_back_equal() -> None:
    topo = parse_topology(GOOD)
    assert parse_topology(to_yaml(topo)) == topo
    lab = parse_topology(LAB_STYLE, addresses=False)
    assert parse_topology(to_yaml(lab), addresses=False) == lab


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("ip: 10.0.2.7,", "ip: 10.0.1.1,", "IP 10.0.1.1 is vm vm1's"),
        ("phone: {", "vm1: {", "the name is vm vm1's already"),
        ("ip: 10.0.2.7,", "ip: 10.0.2.0/24,", "not a host address of 10.0.2.0/24"),
        ("ip: 10.0.2.7,", "ip: 10.0.2.7/33,", "not an IPv4 address[/prefix]"),
        ("ip: 198.51.100.1", "ip: 192.0.2.1", "underlay ip 192.0.2.1 is switch s1's"),
        ('next_hop_mac: "02:00:00:00:fe:01"', 'next_hop_mac: "01:00:00:00:fe:01"',
         "multicast MAC"),
    ],
)
def test_bad_lab_style_file(old: str, new: str, message: str) -> None:
    assert old in LAB_STYLE
    with pytest.raises(TopologyError, match=re.escape(message)):
        parse_topology(LAB_STYLE.replace(old, new), "lab.yaml", addresses=False)


PLACED = GOOD.replace("""  h1: {switch: s1, port: 3}
  h2: {switch: s2, port: 3}""", """  h1: {switch: s1, port: 3, capacity: {vms: 2, memory_mb: 4096}}
  h2: {switch: s2, port: 3, capacity: 0}""").replace(
    "ip: 10.0.1.1, hypervisor: h1}",
    "ip: 10.0.1.1, hypervisor: h1, memory_mb: 1024,\n"
    "       placement: {policy: follow-clients, threshold: 0.3, hypervisors: [h1, h3]}}")


def test_capacity_memory_and_placement() -> None:
    topo = parse_topology(PLACED, "t.yaml")
    h1, h2, h3 = (topo.hypervisors[h] for h in ("h1", "h2", "h3"))
    assert (h1.max_vms, h1.max_memory_mb, h2.max_vms, h3.max_vms) == (2, 4096, 0, None)
    vm1 = topo.vms["vm1"]
    assert vm1.memory_mb == 1024 and vm1.placement is not None
    assert (vm1.placement.policy, vm1.placement.params, vm1.placement.hypervisors) == (
        "follow-clients", (("threshold", 0.3),), ("h1", "h3"))
    assert vm1.placement.origin == "t.yaml:20"
    assert topo.vms["vm2"].placement is None and topo.vms["vm2"].memory_mb == 0
    assert parse_topology(to_yaml(topo)) == topo


@pytest.mark.parametrize(("old", "new", "message"), [
    ("hypervisors: [h1, h3]", "hypervisors: [h1, h9]", "t.yaml:20: vm vm1: placement: no "
     "hypervisor 'h9'"),
    ("policy: follow-clients, ", "", "vm vm1: placement: missing field policy"),
    ("threshold: 0.3", "threshold: lots", "placement: threshold must be a number, not 'lots'"),
    ("threshold: 0.3", "threshold: -1", "placement: threshold must be a number >= 0"),
    ("capacity: {vms: 2, memory_mb: 4096}", "capacity: {vms: 2, disk: 1}",
     "capacity: unknown field 'disk'"),
    ("capacity: {vms: 2, memory_mb: 4096}", "capacity: -1", "capacity (VMs) must be in 0.."),
    ("capacity: {vms: 2, memory_mb: 4096}", "capacity: 0", "hypervisor h1: capacity 0 VMs, "
     "but 1 are declared there (vm1)"),
    ("capacity: {vms: 2, memory_mb: 4096}", "capacity: {memory_mb: 512}",
     "hypervisor h1: capacity 512 MB, but its VMs take 1024 MB"),
])
def test_bad_placement_and_capacity_say_where(old: str, new: str, message: str) -> None:
    assert old in PLACED
    with pytest.raises(TopologyError, match=re.escape(message)):
        parse_topology(PLACED.replace(old, new), "t.yaml")


def test_a_client_has_no_placement() -> None:
    text = LAB_STYLE.replace("hypervisor: ap}", "hypervisor: ap, placement: {policy: p}}")
    with pytest.raises(TopologyError, match="client phone: unknown field 'placement'"):
        parse_topology(text, "lab.yaml", addresses=False)
