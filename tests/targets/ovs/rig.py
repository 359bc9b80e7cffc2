"""`ctrl ovs-target` as a process of its own, on real OVS, with two hosts behind it.

The switch's ovs-vswitchd runs in a namespace of its own; two host namespaces hang
off its ports 1 and 2 (veths, static ARP), so traffic between them crosses the
target's bridge. Everything made is removed on exit, and `left_behind` says what
of ours is still there (processes naming the run directory, namespaces,
interfaces).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ctrl.p4rt.entity import MulticastGroupEntry, Replica, TableEntry
from ctrl.platform import netns
from ctrl.targets.bmv2 import free_tcp_port
from ctrl.targets.ovs.daemon import stop_rundir

VNET = 10
HOSTS = {1: ("02:00:00:00:10:01", "10.77.0.1"), 2: ("02:00:00:00:10:02", "10.77.0.2")}
UNDERLAY_A, UNDERLAY_B = "198.51.100.1", "198.51.100.2"


def ip(text: str) -> int:
    return int.from_bytes(socket.inet_aton(text), "big")


def entries() -> list[TableEntry | MulticastGroupEntry]:
    """Both hosts in one virtual network, and GRE entries whose underlay addresses
    land on the target's underlay bridge (what a restart used to trip over)."""
    out: list[TableEntry | MulticastGroupEntry] = []
    for port, (mac, _) in HOSTS.items():
        out.append(TableEntry("ingress_port", {"ingress_port": port}, "ingress_port.set_access",
                              {"vnet_id": VNET}))
        out.append(TableEntry("bridging", {"vnet_id": VNET, "eth_dst": mac}, "bridging.forward",
                              {"port": port}))
    out += [
        TableEntry("gre_termination", {"ipv4_dst": ip(UNDERLAY_A)}, "gre_termination.terminate",
                   {}),
        TableEntry("tunnel_encap", {"tunnel_id": 5}, "tunnel_encap.encap_gre",
                   {"src_addr": ip(UNDERLAY_A), "dst_addr": ip(UNDERLAY_B)}),
        TableEntry("underlay_next_hop", {"ipv4_dst": ip(UNDERLAY_B)},
                   "underlay_next_hop.set_next_hop",
                   {"src_mac": 0x020000000a01, "dst_mac": 0x020000000a02, "port": 3}),
        MulticastGroupEntry(7, (Replica(1), Replica(2))),
    ]
    return out


@dataclass
class Rig:
    rundir: Path
    uid: str
    sw_ns: str
    hosts: dict[int, str]  # P4 port -> host namespace
    bridge: str
    grpc_addr: str = field(default_factory=lambda: f"127.0.0.1:{free_tcp_port()}")
    log: Path = Path()
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)  # every target run

    def argv(self, bridge: str | None = None, *extra: str) -> list[str]:
        br = bridge or self.bridge
        argv = [sys.executable, "-m", "ctrl.cli", "-v", "ovs-target", "--rundir", str(self.rundir),
                "--netns", self.sw_ns, "--grpc-addr", self.grpc_addr, "--bridge", br,
                "--device-id", "1", *extra]
        for port in self.hosts:
            argv += ["--port", f"{port}={self.sw_if(port)}"]
        return argv

    def sw_if(self, port: int) -> str:
        return f"rs{self.uid}p{port}"

    def start(self, bridge: str | None = None, *extra: str, timeout: float = 30.0
              ) -> subprocess.Popen[bytes]:
        """The target, serving once its gRPC port listens."""
        with self.log.open("ab") as out:
            proc = subprocess.Popen(self.argv(bridge, *extra), stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        host, _, port = self.grpc_addr.rpartition(":")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"ovs-target exited with {proc.returncode}: "
                                     f"{self.log.read_text()[-3000:]}")
            with socket.socket() as s:
                if s.connect_ex((host, int(port))) == 0:
                    return proc
            time.sleep(0.05)
        proc.kill()
        proc.wait()
        raise AssertionError(f"ovs-target did not listen in {timeout} s")

    def left_behind(self) -> list[str]:
        """Processes naming the run directory, interfaces of the bridge in the switch's
        namespace."""
        out = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if f"{self.rundir}/" in cmd or f"{self.rundir} " in cmd:
                out.append(f"pid {pid}: {cmd[:120]}")
        with netns.Links(self.sw_ns) as links:
            names = [link.get_attr("IFLA_IFNAME") for link in links.api.get_links()]
        out += [f"interface {n}" for n in names if n.startswith(self.bridge)
                or n.startswith(f"rb{self.uid}")]
        return out


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 10.0
         ) -> float:
    """Signal the target; how long it took to end."""
    t0 = time.monotonic()
    proc.send_signal(sig)
    proc.wait(timeout)
    return time.monotonic() - t0


def _end(procs: list[subprocess.Popen[bytes]]) -> None:
    """The targets a failed test left running: SIGTERM, then SIGKILL (by PID)."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def rig(tmp: Path, tag: str) -> Iterator[Rig]:
    uid = f"{tag}{os.getpid() % 10000}"
    sw_ns, hosts = f"rsw{uid}", {p: f"rh{uid}{p}" for p in HOSTS}
    r = Rig(tmp / "ovs", uid, sw_ns, hosts, f"rb{uid}", log=tmp / "target.log")
    with contextlib.ExitStack() as stack:
        for ns in (sw_ns, *hosts.values()):
            netns.create_netns(ns)
            stack.callback(netns.remove_netns, ns)
        stack.callback(stop_rundir, r.rundir)
        stack.callback(_end, r.procs)
        for port, ns in hosts.items():
            mac, addr = HOSTS[port]
            netns.add_veth(r.sw_if(port), "eth0", ns=sw_ns, peer_ns=ns)
            for end, space in ((r.sw_if(port), sw_ns), ("eth0", ns)):
                netns.set_offloads(end, space, tx=False)
            with netns.Links(ns) as links:
                links.set("lo", state="up")
                links.set("eth0", address=mac, state="up")
                links.addr_add("eth0", addr, 24)
                for other, (omac, oaddr) in HOSTS.items():
                    if other != port:
                        links.neigh("eth0", oaddr, omac)
        yield r
