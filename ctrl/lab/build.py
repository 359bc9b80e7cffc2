"""Bringing a lab up and down: namespaces, veths, bridges, addresses, switches, controller.

Everything made is written into the lab state at once (ctrl/lab/state.py), so
`down` removes exactly that, even after an `up` that failed or was cut off.
Netlink does the links and addresses (ctrl/platform/netns.py, no shell); switches, the
controller and QEMU guests (ctrl/lab/guests.py) are processes of their own, stopped
by PID.
"""

from __future__ import annotations

import logging
import shutil
import socket
import sys
from collections.abc import Callable

from ctrl.control.topology import to_yaml
from ctrl.lab import guests, procs
from ctrl.lab.spec import BRIDGE, End, HostNet, LabError, LabSpec
from ctrl.lab.state import LabState
from ctrl.northbound.client import ApiError, call
from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.platform import netns
from ctrl.targets.bmv2 import bmv2_argv, find_simple_switch_grpc
from ctrl.targets.ovs.daemon import stop_rundir

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
START_TIMEOUT = 60.0  # a switch or the controller, from start to ready
ETCD_DATA = "etcd"    # a pair's etcd data, under the state directory


def _quiet(_: str) -> None:
    pass


def veth(state: LabState, a: End, b: End, mtu: int | None = None) -> None:
    """A veth pair between two ends; remembered when an end is in the root namespace
    (a namespace takes its interfaces with it)."""
    if a.ns and not b.ns:  # made from the root side (add_veth puts a peer in NS by default)
        a, b = b, a
    netns.add_veth(a.ifname, b.ifname, ns=a.ns, peer_ns=b.ns, mtu=mtu)
    if a.ns is None:
        state.links.append((None, a.ifname))
    elif b.ns is None:
        state.links.append((None, b.ifname))
    state.save()
    for end in (a, b):  # OVS's userspace datapath needs TX checksums done in software
        netns.set_tx_checksum(end.ifname, end.ns, on=False)


def plug_host(state: LabState, host: HostNet, hypervisor_ns: str, ifname: str = "eth0") -> None:
    """The host's interface on a port of the hypervisor's bridge (down, unconfigured)."""
    veth(state, End(hypervisor_ns, host.port_name), End(host.ns, ifname), mtu=host.mtu)
    netns.set_master_in(host.port_name, BRIDGE, hypervisor_ns)


def configure_host(host: HostNet, ifname: str = "eth0") -> None:
    """MAC, MTU, address, default route: the host as the topology declares it."""
    with netns.Links(host.ns) as links:
        links.set(ifname, address=host.mac, mtu=host.mtu, state="up")
        links.addr_add(ifname, host.ip, host.prefix)
        links.route_default(host.gateway)


def _make_network(spec: LabSpec, state: LabState, say: Progress) -> None:
    for ns in spec.namespaces():
        netns.create_netns(ns)
        state.namespaces.append(ns)
        state.save()
        netns.link_set("lo", ns, state="up")
    say(f"{len(spec.namespaces())} namespaces")
    for a, b in spec.links:
        veth(state, a, b)
    for hv in spec.hypervisors.values():
        netns.add_bridge_in(BRIDGE, hv.ns)
        veth(state, *hv.uplink)
        netns.set_master_in(hv.uplink[1].ifname, BRIDGE, hv.ns)
    for host in spec.hosts.values():
        if not host.guest:   # a QEMU guest's tap comes with its QEMU
            plug_host(state, host, spec.hypervisors[host.hypervisor].ns)
            configure_host(host)
        state.locations[host.name] = host.hypervisor
    state.save()
    if spec.wan is not None:
        for port in spec.wan.ports:
            veth(state, *port.wire)
            router = port.wire[1]
            netns.link_set(router.ifname, router.ns, address=port.router_mac)
            address, prefix = port.router_ip.split("/")
            netns.addr_add(router.ifname, address, int(prefix), router.ns)
            # The gateways are P4 switches: they answer no ARP on the underlay.
            netns.neigh_set(router.ifname, port.gateway_ip, port.gateway_mac, router.ns)
        netns.sysctl("net.ipv4.ip_forward", "1", spec.wan.ns)
    say(f"{len(spec.links)} fabric links, {len(spec.hypervisors)} hypervisors, "
        f"{len(spec.hosts)} hosts" + (", a WAN router" if spec.wan else ""))


def listening(addr: str) -> Callable[[], bool]:
    """A check: something accepts TCP connections at HOST:PORT."""
    host, _, port = addr.rpartition(":")

    def check() -> bool:
        with socket.socket() as s:
            s.settimeout(0.2)
            return s.connect_ex((host, int(port))) == 0
    return check


def _python(*args: str) -> list[str]:
    return [sys.executable, "-m", "ctrl.cli", *args]


def _start_switches(spec: LabSpec, state: LabState, say: Progress) -> None:
    if spec.target == "bmv2":
        binary = find_simple_switch_grpc()
        if binary is None:
            raise LabError("the bmv2 target needs simple_switch_grpc on PATH (the p4lang "
                           "behavioral-model; `vagrant up lab` has it); or use --target ovs")
        for sw in spec.switches.values():
            argv = bmv2_argv(binary, sw.ports, sw.device_id, sw.grpc_addr,
                             state.dir / f"bmv2-{sw.name}.ipc")
            p = procs.spawn(f"bmv2 {sw.name}", argv, state.dir / f"bmv2-{sw.name}.log")
            state.processes.append(p)
            state.save()
            procs.wait_until(listening(sw.grpc_addr), p, START_TIMEOUT, "serving P4Runtime")
        say(f"{len(spec.switches)} bmv2 switches")
        return
    for site in spec.topology.sites:
        members = [sw for sw in spec.switches.values() if sw.site == site]
        if not members:
            continue
        argv = ["ovs-target", "--rundir", str(state.dir / f"ovs-{site}"),
                "--grpc-addr", members[0].grpc_addr]
        gateway = next((sw for sw in members if spec.topology.switches[sw.name].underlay),
                       None)
        argv += ["--gre-bridge", f"{spec.tag}b{gateway.index}"] if gateway else ["--no-gre"]
        for sw in members:
            bridge = f"{spec.tag}b{sw.index}"
            argv += ["--bridge", bridge, "--device-id", str(sw.device_id)]
            argv += [a for p, ifname in sw.ports.items() for a in
                     ("--port", f"{bridge}:{p}={ifname}")]
        if members[0].ns:
            argv += ["--netns", members[0].ns]
        p = procs.spawn(f"ovs-target {site}", _python(*argv), state.dir / f"ovs-{site}.log")
        state.processes.append(p)
        state.save()
        procs.wait_until(listening(members[0].grpc_addr), p, START_TIMEOUT,
                         "serving P4Runtime")
    say(f"{len(spec.switches)} Open vSwitch bridges behind {len(spec.topology.sites)} "
        "P4Runtime servers")


def in_sync(api: str) -> Callable[[], bool]:
    """A check: the controller at `api` answers and has every switch in sync."""
    def check() -> bool:
        try:
            rows = call(api, "switches", timeout=2)
        except ApiError:
            return False
        return isinstance(rows, list) and all(r.get("in_sync") for r in rows)
    return check


def _start_controller(spec: LabSpec, state: LabState, say: Progress) -> None:
    topology = state.dir / "topology.yaml"
    topology.write_text(f"# made by `ctrl lab up` from {state.origin}\n"
                        + to_yaml(spec.topology))
    paths = BuildPaths(project_root())
    argv = _python("-v", "serve", "--topology", str(topology), "--api", state.api,
                   "--p4info", str(paths.p4info), "--bmv2-json", str(paths.json))
    if state.controllers > 1:
        _start_pair(state, argv, say)
        return
    p = procs.spawn("controller", argv, state.dir / "controller.log")
    state.processes.append(p)
    state.save()
    procs.wait_until(in_sync(state.api), p, START_TIMEOUT, "in sync with every switch")
    say(f"controller in sync with every switch; API on http://{state.api}/api/v1")


def _start_pair(state: LabState, argv: list[str], say: Progress) -> None:
    """etcd of the lab's own, then controller-1..N campaigning through it; ready when the
    one elected is in sync with every switch."""
    from ctrl.ha.etcdproc import EtcdProcess

    etcd = EtcdProcess(state.dir / ETCD_DATA, log=state.dir / "etcd.log")
    # A new lab's pair starts from nothing: an earlier lab's host locations and terms,
    # left in this state directory, would be taken for this one's.
    shutil.rmtree(state.dir / ETCD_DATA, ignore_errors=True)
    (state.dir / ETCD_DATA).mkdir()
    p = procs.spawn("etcd", etcd.argv(), etcd.log)
    state.processes.append(p)
    state.save()
    procs.wait_until(etcd.healthy, p, START_TIMEOUT, "answering")
    apis = [state.api, *state.apis]
    first = None
    for i, api in enumerate(apis, 1):
        mine = [a if a != state.api else api for a in argv]
        c = procs.spawn(f"controller-{i}", [*mine, "--etcd", etcd.url, "--election-id", str(i),
                                            "--ha-name", f"controller-{i}"],
                        state.dir / f"controller-{i}.log")
        state.processes.append(c)
        state.save()
        first = first or c
    assert first is not None
    procs.wait_until(lambda: any(in_sync(a)() for a in apis), first, START_TIMEOUT,
                     "in sync with every switch")
    say(f"{len(apis)} controllers through etcd at {etcd.url}, one primary in sync with every "
        f"switch; APIs on {', '.join(f'http://{a}/api/v1' for a in apis)}")


def up(state: LabState, say: Progress = _quiet, accel: str = "auto") -> LabSpec:
    """Build the lab of `state` (a fresh one); on any failure, or Ctrl-C, undo it all.
    QEMU guests (`state.guests`) get `accel` (auto: KVM where it runs guests, else TCG);
    a missing QEMU or guest image is said before anything is made."""
    spec = state.spec()
    taken = [ns for ns in spec.namespaces() if ns in netns.list_netns()]
    if taken:
        raise LabError(f"lab {spec.name}: {len(taken)} of its namespaces exist already "
                       f"({', '.join(taken[:3])}{', ...' if len(taken) > 3 else ''}): a lab "
                       "of that name is up (`ctrl lab down` with its --state-dir), or one was "
                       "left by a crash (remove them with `ip netns del NAME`); or name this "
                       "lab otherwise (`name:` in the topology). Nothing was changed.")
    if spec.guests == "qemu":
        image = guests.prepare()
        state.image = (str(image.kernel), str(image.initramfs), image.kernel_version)
    state.save()
    try:
        _make_network(spec, state, say)
        _start_switches(spec, state, say)
        _start_controller(spec, state, say)
        guests.boot(state, spec, accel, say)
    except BaseException:
        say("failed: taking down what was made")
        down(state, say)
        raise
    state.up = True
    state.save()
    return spec


def down(state: LabState, say: Progress = _quiet) -> None:
    """Stop every process, remove every link and namespace of the lab; what is gone
    already is skipped, so `down` may run again after anything."""
    for p in reversed(state.processes):
        if procs.stop(p):
            say(f"stopped {p.name} (pid {p.pid})")
    # The OVS daemons of a target that could not stop them itself (killed, crashed).
    for rundir in sorted(state.dir.glob("ovs-*")):
        if rundir.is_dir():
            for line in stop_rundir(rundir):
                say(f"stopped {line}")
    state.processes.clear()
    shutil.rmtree(state.dir / ETCD_DATA, ignore_errors=True)   # the pair's shared state
    state.save()
    for ns, ifname in state.links:
        netns.delete_link(ifname, ns)
    state.links.clear()
    for ns in reversed(state.namespaces):
        netns.remove_netns(ns)
    if state.namespaces:
        say(f"removed {len(state.namespaces)} namespaces")
    state.namespaces.clear()
    state.up = False
    state.remove()
