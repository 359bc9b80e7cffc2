"""Bringing a lab up and down: namespaces, veths, bridges, addresses, switches, controller.

Everything made is written into the lab state at once (ctrl/lab/state.py), so
`down` removes exactly that, even after an `up` that failed or was cut off.
Netlink does the links and addresses (ctrl/platform/netns.py, no shell); switches, the
controller and QEMU guests (ctrl/lab/guests.py) are processes of their own, stopped
by PID.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pyroute2 import NetlinkError

from ctrl.control.topology import to_yaml
from ctrl.ha.etcdproc import ATTEMPTS, EtcdProcess, log_size, lost_its_port
from ctrl.lab import guests, procs
from ctrl.lab.spec import BRIDGE, End, HostNet, LabError, LabSpec
from ctrl.lab.state import PLACEMENT, LabState
from ctrl.northbound.client import ApiError, call
from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.platform import netns
from ctrl.targets.bmv2 import bmv2_argv, find_simple_switch_grpc
from ctrl.targets.ovs import dpdk, dpdkargs
from ctrl.targets.ovs.daemon import DAEMONS, JOURNALS, OvsDaemons, stop_rundir

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


def _wire(pairs: Sequence[tuple[End, End, int | None]], say: Progress) -> None:
    """Veth pairs, made a namespace at a time with one netlink handle each (six a pair
    before): both ends up, TX checksumming off, IPv6 off (the lab's namespaces have it
    off for every interface; a root namespace end gets it off by itself)."""
    by_ns: dict[str | None, list[tuple[End, End, int | None]]] = {}
    for a, b, mtu in pairs:
        if a.ns and not b.ns:  # made from the root side
            a, b = b, a
        by_ns.setdefault(a.ns, []).append((a, b, mtu))
    ends: dict[str | None, list[tuple[str, int | None]]] = {}
    done = 0
    for ns, group in by_ns.items():
        with netns.Links(ns) as links:
            for a, b, mtu in group:
                peer: dict[str, object] = {"ifname": b.ifname}
                if b.ns != a.ns:
                    peer["net_ns_fd"] = b.ns
                try:
                    links.api.link("add", ifname=a.ifname, kind="veth", peer=peer)
                except NetlinkError as exc:
                    raise LabError(f"cannot add veth {a.ifname}/{b.ifname}: {exc}") from exc
                for end in (a, b):
                    ends.setdefault(end.ns, []).append((end.ifname, mtu))
                done += 1
                if done % 100 == 0 or done == len(pairs):
                    say(f"{done} of {len(pairs)} veth pairs")
    for ns, names in ends.items():
        with netns.Links(ns) as links:
            for ifname, mtu in names:
                links.set(ifname, state="up", **({"mtu": mtu} if mtu else {}))
        for ifname, _ in names:
            if ns is None:
                netns.disable_ipv6(ifname)
            # OVS's userspace datapath needs TX checksums done in software
            netns.set_tx_checksum(ifname, ns, on=False)


def plug_host(state: LabState, host: HostNet, hypervisor_ns: str, ifname: str = "eth0",
              flood: bool = True) -> None:
    """The host's interface on a port of the hypervisor's bridge (up, unconfigured); with
    `flood` off the bridge sends it no frame for an unknown MAC: it gets its own frames
    only once a frame from it has taught the bridge where it is."""
    veth(state, End(hypervisor_ns, host.port_name), End(host.ns, ifname), mtu=host.mtu)
    if flood:
        netns.set_master_in(host.port_name, BRIDGE, hypervisor_ns)
        return
    netns.link_set(ifname, host.ns, state="down")   # taking nothing while it joins
    netns.set_master_in(host.port_name, BRIDGE, hypervisor_ns)
    netns.set_flood_in(host.port_name, hypervisor_ns, False)
    netns.link_set(ifname, host.ns, state="up")


def configure_host(host: HostNet, ifname: str = "eth0") -> None:
    """MAC, MTU, address, default route: the host as the topology declares it."""
    with netns.Links(host.ns) as links:
        links.set(ifname, address=host.mac, mtu=host.mtu, state="up")
        links.addr_add(ifname, host.ip, host.prefix)
        links.route_default(host.gateway)


def _make_network(spec: LabSpec, state: LabState, say: Progress) -> None:
    # All of them written down before any is made: `down` removes what exists of them
    # after anything (they are the lab's: `up` refused names that were taken), and the
    # state file is written twice, not once an interface.
    names = spec.namespaces()
    state.namespaces += names
    wires = [(a, b, None) for a, b in spec.links] + [(*hv.uplink, None)
                                                      for hv in spec.hypervisors.values()]
    state.links += [(None, end.ifname) for a, b, _ in wires for end in (a, b)
                    if end.ns is None]
    state.save()
    for i, ns in enumerate(names, 1):
        netns.create_netns(ns)
        with netns.in_netns(ns):   # IPv6 off for every interface made or moved here
            for key in ("all", "default"):
                Path(f"/proc/sys/net/ipv6/conf/{key}/disable_ipv6").write_text("1")
        netns.link_set("lo", ns, state="up")
        if i % 25 == 0 or i == len(names):
            say(f"{i} of {len(names)} namespaces")
    _wire(wires, say)
    for hv in spec.hypervisors.values():
        with netns.Links(hv.ns) as links:
            links.api.link("add", ifname=BRIDGE, kind="bridge", br_stp_state=0)
            links.set(BRIDGE, state="up")
            links.set(hv.uplink[1].ifname, master=links.index(BRIDGE))
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


def ovs_rundir(state: LabState, site: str) -> Path:
    """Where a site's ovs-target keeps its OVS daemons (`--rundir`)."""
    return state.dir / f"ovs-{site}"


def vswitchd_dir(state: LabState, spec: LabSpec, site: str) -> Path:
    """The run directory of a site's ovs-vswitchd (the target's own, or its namespace's
    under it: ctrl/targets/ovs/target.py's Fabric)."""
    members = [sw for sw in spec.switches.values() if sw.site == site]
    if not members:
        raise LabError(f"the lab has no switch of site {site!r}")
    ns = members[0].ns
    return ovs_rundir(state, site) / ns if ns else ovs_rundir(state, site)


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
    started = 0
    for site in spec.topology.sites:
        members = [sw for sw in spec.switches.values() if sw.site == site]
        if not members:
            continue
        # -v: what it takes up and repairs after a restart, in its log
        p = procs.spawn(f"ovs-target {site}", _python("-v", *ovs_target_argv(spec, state, site)),
                        state.dir / f"ovs-{site}.log")
        state.processes.append(p)
        state.save()
        try:
            procs.wait_until(listening(members[0].grpc_addr), p, START_TIMEOUT,
                             "serving P4Runtime")
        except LabError:
            if state.dpdk is None or started or spec.vhost:
                raise
            # DPDK did not start here (it says why in the target's log): the first site
            # tells, and the lab runs on the plain datapath instead.
            procs.stop(p)
            why = procs.last_error(p) or f"see {p.log}"
            say(f"the DPDK datapath did not start ({why}): the lab runs on the plain "
                "netdev datapath instead")
            state.processes.remove(p)
            state.dpdk = None
            state.save()
            _start_switches(state.spec(), state, say)
            return
        started += 1
    say(f"{len(spec.switches)} Open vSwitch bridges behind {len(spec.topology.sites)} "
        f"P4Runtime servers, {'DPDK' if state.dpdk else 'netdev'} datapath")


def ovs_target_argv(spec: LabSpec, state: LabState, site: str) -> list[str]:
    """`ctrl ovs-target` for the bridges of `site`: each switch's ports (a hypervisor's
    virtual switch where the lab has vhost-user guests), GRE on its gateway, the lab's
    datapath."""
    members = [sw for sw in spec.switches.values() if sw.site == site]
    argv = ["ovs-target", "--rundir", str(ovs_rundir(state, site)),
            "--grpc-addr", members[0].grpc_addr, *dpdkargs.to_argv(state.dpdk)]
    gateway = next((sw for sw in members if spec.topology.switches[sw.name].underlay), None)
    argv += ["--gre-bridge", f"{spec.tag}b{gateway.index}"] if gateway else ["--no-gre"]
    for sw in members:
        bridge = f"{spec.tag}b{sw.index}"
        argv += ["--bridge", bridge, "--device-id", str(sw.device_id)]
        hvs = {hv.port: hv for hv in spec.hypervisors.values()
               if hv.switch == sw.name and hv.vswitch is not None}
        argv += [a for p, ifname in sw.ports.items() if p not in hvs
                 for a in ("--port", f"{bridge}:{p}={ifname}")]
        argv += [a for p, hv in hvs.items()
                 for a in ("--vswitch", f"{hv.vswitch}={bridge}:{p},{hv.uplink[0].ifname}")]
    if members[0].ns:
        argv += ["--netns", members[0].ns]
    return argv


def in_sync(api: str) -> Callable[[], bool]:
    """A check: the controller at `api` answers and has every switch in sync."""
    def check() -> bool:
        try:
            rows = call(api, "switches", timeout=2)
        except ApiError:
            return False
        return isinstance(rows, list) and all(r.get("in_sync") for r in rows)
    return check


def pair_settled(apis: list[str]) -> Callable[[], bool]:
    """A check: every controller of a pair answers, one is primary (leader with a live lease,
    primary on every switch) and every other one is a standby holding its own lease."""
    def check() -> bool:
        roles = []
        for api in apis:
            try:
                ha = call(api, "ha", timeout=2)
            except ApiError:
                return False
            if not isinstance(ha, dict):
                return False
            roles.append("primary" if ha.get("primary") else ha.get("role"))
        return roles.count("primary") == 1 and roles.count("standby") == len(apis) - 1
    return check


def _start_controller(spec: LabSpec, state: LabState, say: Progress) -> None:
    topology = state.dir / "topology.yaml"
    topology.write_text(f"# made by `ctrl lab up` from {state.origin}\n"
                        + to_yaml(spec.topology))
    paths = BuildPaths(project_root())
    argv = _python("-v", "serve", "--topology", str(topology), "--api", state.api,
                   "--p4info", str(paths.p4info), "--bmv2-json", str(paths.json),
                   # The placement engine's migrations are the lab's to carry out.
                   "--placement-actuator", f"lab:{state.dir.resolve()}",
                   "--placement-state", str(state.dir / PLACEMENT))
    if state.controllers > 1:
        _start_pair(state, argv, say)
        return
    p = procs.spawn("controller", argv, state.dir / "controller.log")
    state.processes.append(p)
    state.save()
    procs.wait_until(in_sync(state.api), p, START_TIMEOUT, "in sync with every switch")
    say(f"controller in sync with every switch; API on http://{state.api}/api/v1")


def _start_etcd(state: LabState, say: Progress) -> EtcdProcess:
    """The lab's own etcd, answering; started again on other ports if one of its ports was
    taken between picking it and etcd listening (the lab's own connections can take it)."""
    etcd = EtcdProcess(state.dir / ETCD_DATA, log=state.dir / "etcd.log")
    attempt = 1
    while True:
        # A new lab's pair starts from nothing: an earlier lab's host locations and terms,
        # left in this state directory, would be taken for this one's.
        shutil.rmtree(state.dir / ETCD_DATA, ignore_errors=True)
        (state.dir / ETCD_DATA).mkdir()
        since = log_size(etcd.log)
        p = procs.spawn("etcd", etcd.argv(), etcd.log)
        state.processes.append(p)
        state.save()
        try:
            procs.wait_until(etcd.healthy, p, START_TIMEOUT, "answering")
            return etcd
        except LabError:
            if (attempt == ATTEMPTS or procs.is_running(p)
                    or not lost_its_port(etcd.log, since)):
                raise
        state.processes.remove(p)
        state.save()
        say(f"etcd's port was taken before it listened; again on other ports (retry {attempt} "
            f"of {ATTEMPTS - 1})")
        etcd.new_ports()
        attempt += 1


def _start_pair(state: LabState, argv: list[str], say: Progress) -> None:
    """etcd of the lab's own, then controller-1..N campaigning through it; ready when the
    one elected is in sync with every switch."""
    etcd = _start_etcd(state, say)
    apis = [state.api, *state.apis]
    started = []
    for i, api in enumerate(apis, 1):
        mine = [a if a != state.api else api for a in argv]
        c = procs.spawn(f"controller-{i}", [*mine, "--etcd", etcd.url, "--election-id", str(i),
                                            "--ha-name", f"controller-{i}"],
                        state.dir / f"controller-{i}.log")
        state.processes.append(c)
        state.save()
        started.append(c)
    procs.wait_until(lambda: any(in_sync(a)() for a in apis), started[0], START_TIMEOUT,
                     "in sync with every switch")
    # Ready is what each one says of itself: one primary, every other one a standby with a
    # lease of its own (a controller still campaigning is not yet a standby to fail over to).
    procs.wait_until(pair_settled(apis), started[0], START_TIMEOUT,
                     "one primary, the rest standby")
    say(f"{len(apis)} controllers through etcd at {etcd.url}, one primary in sync with every "
        f"switch, the rest standby; APIs on {', '.join(f'http://{a}/api/v1' for a in apis)}")


def _end_ovs(state: LabState, say: Progress) -> None:
    """The lab's OVS daemons killed first (each by its pidfile, checked to be this run
    directory's): they run in the lab's site namespaces, which go with all their ports
    next, so their bridges need no deleting (80 of them took ovs-vsctl past its 10 s,
    and the target waited for it on the way out)."""
    pidfiles = (p for top in state.dir.glob("ovs-*") if top.is_dir()
                for name in DAEMONS for p in top.rglob(f"{name}.pid"))
    for rundir in sorted({p.parent for p in pidfiles}):
        daemons = OvsDaemons(rundir)
        for name in DAEMONS:
            pid = daemons.running(name)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                say(f"stopped {rundir}: {name} (pid {pid})")
        for journal in rundir.glob(JOURNALS):   # what the bridges held: gone with them
            journal.unlink(missing_ok=True)


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
    if state.dpdk is not None and (why := dpdk.unavailable(state.dpdk)) is not None:
        if spec.vhost:
            raise LabError(f"QEMU guests on vhost-user ports need the DPDK datapath: {why}. "
                           "Nothing was changed.")
        say(f"the DPDK datapath cannot start here ({why}): the lab runs on the plain "
            "netdev datapath")
        state.dpdk = None
        spec = state.spec()
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
    if state.target == "ovs":
        _end_ovs(state, say)
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
