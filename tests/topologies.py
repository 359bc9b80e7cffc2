"""Topologies the unit tests share (controller topology files, as text)."""

from __future__ import annotations

# Two sites: a (s1 its gateway, s2, s4 in a triangle) and b (s3, its gateway); one
# hypervisor port on each switch; a routed virtual network.
TOPO = """\
sites: {a: {}, b: {}}
switches:
  s1: {site: a, device_id: 1, grpc_addr: "127.0.0.1:1", underlay: {ip: 192.0.2.1, port: 9}}
  s2: {site: a, device_id: 2, grpc_addr: "127.0.0.1:2"}
  s4: {site: a, device_id: 4, grpc_addr: "127.0.0.1:4"}
  s3: {site: b, device_id: 3, grpc_addr: "127.0.0.1:3", underlay: {ip: 198.51.100.1, port: 9}}
links:
  - [s1:1, s2:1]
  - [s2:2, s4:1]
  - [s1:2, s4:2]
hypervisors:
  h1: {switch: s1, port: 3}
  h2: {switch: s2, port: 3}
  h3: {switch: s3, port: 3}
  h4: {switch: s4, port: 3}
vnets:
  blue: {id: 10, gateway_mac: "02:00:00:00:00:01"}
"""

# TOPO's VMs: vm1 at h1, vm2 at h2.
VMS = """\
vms:
  vm1: {vnet: blue, mac: "02:00:00:00:01:01", ip: 10.0.1.1, hypervisor: h1}
  vm2: {vnet: blue, mac: "02:00:00:00:01:02", ip: 10.0.2.1, hypervisor: h2}
"""

# TOPO with vm2 alone.
VM2 = """\
vms:
  vm2: {vnet: blue, mac: "02:00:00:00:01:02", ip: 10.0.2.1, hypervisor: h2}
"""

# One site: a ring of five switches (several paths, ties broken by name), two hypervisor
# ports on c1, one on each other switch; one VM, and a client on every hypervisor.
CHAIN = """\
switches:
  c1: {device_id: 1, grpc_addr: "127.0.0.1:1"}
  c2: {device_id: 2, grpc_addr: "127.0.0.1:2"}
  c3: {device_id: 3, grpc_addr: "127.0.0.1:3"}
  c4: {device_id: 4, grpc_addr: "127.0.0.1:4"}
  c5: {device_id: 5, grpc_addr: "127.0.0.1:5"}
links:
  - [c1:1, c2:1]
  - [c2:2, c3:1]
  - [c3:2, c4:1]
  - [c4:2, c5:1]
  - [c5:2, c1:2]
hypervisors:
  h1: {switch: c1, port: 3}
  h1b: {switch: c1, port: 4}
  h2: {switch: c2, port: 3}
  h3: {switch: c3, port: 3}
  h4: {switch: c4, port: 3}
  h5: {switch: c5, port: 3}
vnets:
  blue: {id: 10}
vms:
  vm: {vnet: blue, mac: "02:00:00:00:01:01", ip: 10.0.1.1, hypervisor: h1}
clients:
  cl1: {vnet: blue, mac: "02:00:00:00:02:01", ip: 10.0.2.1, hypervisor: h1}
  cl1b: {vnet: blue, mac: "02:00:00:00:02:02", ip: 10.0.2.2, hypervisor: h1b}
  cl2: {vnet: blue, mac: "02:00:00:00:02:03", ip: 10.0.2.3, hypervisor: h2}
  cl3: {vnet: blue, mac: "02:00:00:00:02:04", ip: 10.0.2.4, hypervisor: h3}
  cl4: {vnet: blue, mac: "02:00:00:00:02:05", ip: 10.0.2.5, hypervisor: h4}
  cl5: {vnet: blue, mac: "02:00:00:00:02:06", ip: 10.0.2.6, hypervisor: h5}
"""
