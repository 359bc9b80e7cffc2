"""Two `ctrl serve` processes, one OVS target (two bridges), a real etcd: the standby takes
over from a primary killed with SIGKILL; a primary frozen past its lease is fenced by the
switches and steps down; with etcd down nobody is primary and forwarding goes on.

  vm1 --s1:2-- [s1] --s1:1/s2:1-- [s2] --s2:2-- vm2      (one ovs-vswitchd, its own netns)

Needs root and Open vSwitch. Timings are printed, never asserted.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from ctrl.ha.etcdproc import EtcdProcess, free_port
from ctrl.p4rt.proto import p4r, p4r_grpc
from ctrl.p4rt.schema import P4Schema
from ctrl.platform import netns
from ctrl.targets.ovs.target import BridgeSpec, serving
from tests.packet.ovs_target import ovs_available
from tests.traffic import udp_exchange

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and veth pairs"),
]

VM1_MAC, VM2_MAC = "02:00:00:00:01:01", "02:00:00:00:01:02"
VM1_IP, VM2_IP = "10.0.0.1", "10.0.0.2"
TOPOLOGY = """\
switches:
  s1: {{device_id: 1, grpc_addr: "{addr}"}}
  s2: {{device_id: 2, grpc_addr: "{addr}"}}
links:
  - [s1:1, s2:1]
hypervisors:
  h1: {{switch: s1, port: 2}}
  h2: {{switch: s2, port: 2}}
  h3: {{switch: s2, port: 3}}
vnets:
  blue: {{id: 10, gateway_mac: "02:00:00:00:00:01"}}
vms:
  vm1: {{vnet: blue, mac: "{m1}", ip: {ip1}, hypervisor: h1}}
  vm2: {{vnet: blue, mac: "{m2}", ip: {ip2}, hypervisor: h2}}
"""
CTRL = str(Path(sys.executable).with_name("ctrl"))


@pytest.fixture
def fabric(tmp_path: Path, schema: P4Schema) -> Iterator[dict[str, str]]:
    if (why := ovs_available()) is not None:
        pytest.skip(why)
    tag = f"{os.getpid() % 10000}"
    names = {"vm1": f"havm1{tag}", "vm2": f"havm2{tag}", "sw": f"hasw{tag}"}
    with contextlib.ExitStack() as stack:
        for ns in names.values():
            netns.create_netns(ns)
            stack.callback(netns.remove_netns, ns)
        for a, b, b_ns in ((f"ha{tag}l1", f"ha{tag}l2", names["sw"]),
                           (f"ha{tag}h1", "eth0", names["vm1"]),
                           (f"ha{tag}h2", "eth0", names["vm2"])):
            netns.add_veth(a, b, peer_ns=b_ns, ns=names["sw"])
            stack.callback(netns.delete_link, a, names["sw"])
        for vm, mac, ip in (("vm1", VM1_MAC, VM1_IP), ("vm2", VM2_MAC, VM2_IP)):
            netns.link_set("eth0", names[vm], address=mac, state="up")
            netns.addr_add("eth0", ip, 24, names[vm])
            netns.link_set("lo", names[vm], state="up")
            netns.set_offloads("eth0", names[vm], tx=False)
        specs = [BridgeSpec(f"hab1{tag}", 1, {1: f"ha{tag}l1", 2: f"ha{tag}h1"}, names["sw"],
                           gre=False),
                 BridgeSpec(f"hab2{tag}", 2, {1: f"ha{tag}l2", 2: f"ha{tag}h2"}, names["sw"],
                           gre=False)]
        for spec in specs:
            for ifname in spec.ports.values():
                netns.set_offloads(ifname, spec.netns, tx=False)
        ovs = stack.enter_context(serving(tmp_path / "ovs", specs, schema))
        names["addr"] = ovs.address
        topo = tmp_path / "topology.yaml"
        topo.write_text(TOPOLOGY.format(addr=ovs.address, m1=VM1_MAC, m2=VM2_MAC,
                                        ip1=VM1_IP, ip2=VM2_IP))
        names["topology"] = str(topo)
        yield names


class Serve:
    """One `ctrl serve --etcd` process; stopped by its PID."""

    def __init__(self, name: str, low: int, topology: str, etcd: str, logs: Path) -> None:
        self.name, self.port = name, free_port()
        self.log = logs / f"{name}.log"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [CTRL, "-v", "serve", "--topology", topology, "--etcd", etcd,
                 "--election-id", str(low), "--ha-name", name,
                 "--api", f"127.0.0.1:{self.port}"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def get(self, path: str) -> object:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
            return json.loads(r.read()) if path.startswith("/api") else r.read().decode()

    def send(self, method: str, path: str, body: dict[str, str] | None = None) -> object:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    def ha(self) -> dict[str, object]:
        try:
            out = self.get("/api/v1/ha")
        except OSError:
            return {}
        assert isinstance(out, dict)
        return out

    def primary(self) -> bool:
        return self.ha().get("primary") is True

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.proc.pid, sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def until(cond: Callable[[], bool], timeout: float = 30.0) -> float:
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not met in {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - start


def stale_write(addr: str, device_id: int, election_id: tuple[int, int]) -> grpc.StatusCode:
    """A Write with an old leader's election id: what the switch answers."""
    with grpc.insecure_channel(addr) as ch:
        try:
            p4r_grpc.P4RuntimeStub(ch).Write(p4r.WriteRequest(
                device_id=device_id,
                election_id=p4r.Uint128(high=election_id[0], low=election_id[1])), timeout=5)
        except grpc.RpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


def test_failover_fencing_and_etcd_down(fabric: dict[str, str], etcd: EtcdProcess,
                                        tmp_path: Path) -> None:
    made: list[Serve] = []

    def serve(name: str, low: int) -> Serve:
        s = Serve(name, low, fabric["topology"], etcd.url, tmp_path)
        made.append(s)
        return s

    try:
        c1 = serve("c1", 1)
        until(c1.primary)
        c2 = serve("c2", 2)
        until(lambda: c2.ha().get("role") == "standby" and c2.ha().get("lease_held") is True)
        assert not c2.primary() and c1.primary()
        assert udp_exchange(fabric["vm1"], fabric["vm2"], VM2_IP, timeout=10)

        # a migration announced to the primary, in flight when it dies
        c1.send("POST", "/api/v1/migrate", {"vm": "vm2", "to": "h3"})

        def in_flight(c: Serve) -> list[object]:
            book = c.get("/api/v1/migrations")
            assert isinstance(book, dict)
            return [m["to"] for m in book["active"] if m["mac"] == VM2_MAC]

        # 1. the primary killed: the standby is primary on every switch
        c1.signal(signal.SIGKILL)
        c1.proc.wait(5)
        took = until(c2.primary, timeout=15)
        print(f"\nkill -9 of the primary: the standby primary on every switch {took:.2f} s "
              "later")
        assert udp_exchange(fabric["vm1"], fabric["vm2"], VM2_IP, timeout=5)
        assert in_flight(c2) == ["s2:3"]   # it knew the migration in flight, and ends it
        assert c2.send("DELETE", "/api/v1/migrate/vm2") is not None
        assert in_flight(c2) == []

        # 2. the primary frozen past its lease, then resumed: fenced, it steps down
        c3 = serve("c3", 3)
        until(lambda: c3.ha().get("role") == "standby" and c3.ha().get("lease_held") is True)
        old = c2.ha()
        old_id = old["election_id"]
        assert isinstance(old_id, list)
        c2.signal(signal.SIGSTOP)
        took = until(c3.primary, timeout=15)
        print(f"SIGSTOP of the primary: the standby primary on every switch {took:.2f} s "
              "later")
        for device in (1, 2):   # what the frozen one would write now is refused
            assert stale_write(fabric["addr"], device, (old_id[0], old_id[1])) \
                is grpc.StatusCode.PERMISSION_DENIED
        c2.signal(signal.SIGCONT)
        until(lambda: c2.ha().get("role") != "leader", timeout=10)
        after = c2.ha()
        assert after["primary"] is False and after["stepped_down"] == 1
        assert c3.primary()
        assert "mobility_ha_primary 0.0" in str(c2.get("/metrics"))
        assert udp_exchange(fabric["vm1"], fabric["vm2"], VM2_IP, timeout=5)

        # 3. etcd down: nobody is primary, it is said, and forwarding goes on
        etcd.stop()
        took = until(lambda: not c3.primary() and not c2.primary(), timeout=10)
        print(f"etcd stopped: no controller primary {took:.2f} s later")
        until(lambda: all(c.ha().get("lease_held") is False for c in (c2, c3)), timeout=10)
        for c in (c2, c3):
            metrics = str(c.get("/metrics"))
            assert "mobility_ha_etcd_reachable 0.0" in metrics
            assert "mobility_ha_primary 0.0" in metrics
            assert "mobility_ha_lease_held 0.0" in metrics
        assert udp_exchange(fabric["vm1"], fabric["vm2"], VM2_IP, timeout=5)
        time.sleep(1.0)
        assert not c3.primary() and not c2.primary()
        assert "without a lease" in c3.log.read_text()
    finally:
        for s in made:
            s.stop()
