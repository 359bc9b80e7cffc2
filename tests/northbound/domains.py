"""libvirt's test driver as the hypervisors' tests use it: a topology with two
hypervisors on one switch, and domains defined on a connection."""

from __future__ import annotations

import uuid
from typing import Any

TEST = "test:///default"


MAC = "52:54:00:98:00:0b"


def topology(mac: str, ip: str) -> str:
    """Two hypervisors on one switch; VM `web` at hv-a."""
    return f"""\
switches:
  s1: {{device_id: 1, grpc_addr: "127.0.0.1:1"}}
hypervisors:
  hv-a: {{switch: s1, port: 1}}
  hv-b: {{switch: s1, port: 2}}
vnets:
  blue: {{id: 10}}
vms:
  web: {{vnet: blue, mac: "{mac}", ip: {ip}, hypervisor: hv-a}}
"""


TOPO = topology(MAC, "10.98.0.11")


DOMAIN = """<domain type='test'><name>{name}</name><uuid>{uuid}</uuid>
<memory unit='MiB'>64</memory><os><type>hvm</type></os>
<devices><interface type='network'><mac address='{mac}'/><source network='default'/>
</interface></devices></domain>"""


def define(conn: Any, name: str, mac: str = MAC) -> Any:
    return conn.defineXML(DOMAIN.format(name=name, uuid=uuid.uuid4(), mac=mac))
