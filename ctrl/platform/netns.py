"""Network namespaces, veth pairs and raw sockets, through netlink (pyroute2).

Each helper names the `ip` command it stands for. Nothing here runs a shell.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from pyroute2 import IPRoute, NetlinkError, netns

from ctrl.errors import MobilityError

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_IGNORE_OUTGOING = 23  # Linux >= 4.20: only frames that arrive on the link
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
_AUXDATA = struct.Struct("=IIIHHHH")  # struct tpacket_auxdata
IFNAMSIZ = 15


class NetnsError(MobilityError, OSError):
    """A namespace, link or socket operation that failed."""


def _check_ifname(name: str) -> None:
    if not 0 < len(name) <= IFNAMSIZ:
        raise NetnsError(f"interface name {name!r} must have 1..{IFNAMSIZ} characters")


def create_netns(name: str) -> None:
    """`ip netns add NAME`: made in this process where /run/netns is set up already (a
    thread of ours unshares its network namespace, which is bound to /run/netns/NAME),
    not by a helper process forked from this one (pyroute2's way, taken the first time:
    50 ms each on a busy machine, and the lab makes 131 for a k=8 fat-tree)."""
    if name in netns.listnetns():
        raise NetnsError(f"network namespace {name!r} exists already")
    if not _bind_new_netns(name):
        netns.create(name)


_MS_BIND = 4096


def _bind_new_netns(name: str) -> bool:
    """A new network namespace bound to /run/netns/NAME; False where /run/netns is not
    the mount point `ip netns` makes of it."""
    run = Path("/run/netns")
    if not os.path.ismount(run):
        return False
    path = run / name
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    failed: list[str] = []

    def bind() -> None:   # the namespace is this thread's alone, and ends with it but bound
        if _libc.unshare(_CLONE_NEWNET) != 0:
            failed.append(f"unshare: {os.strerror(ctypes.get_errno())}")
            return
        own = f"/proc/self/task/{threading.get_native_id()}/ns/net".encode()
        if _libc.mount(own, str(path).encode(), None, _MS_BIND, None) != 0:
            failed.append(f"mount: {os.strerror(ctypes.get_errno())}")

    worker = threading.Thread(target=bind, name=f"netns-{name}")
    worker.start()
    worker.join()
    if failed:
        path.unlink(missing_ok=True)
        raise NetnsError(f"cannot make network namespace {name!r}: {failed[0]}")
    return True


def remove_netns(name: str) -> None:
    """`ip netns del NAME` (no error when it is gone already)."""
    if name in netns.listnetns():
        netns.remove(name)


@contextlib.contextmanager
def scratch_netns(name: str) -> Iterator[str]:
    """`ip netns add NAME` for the body, `ip netns del NAME` after it, whatever happens."""
    create_netns(name)
    try:
        yield name
    finally:
        remove_netns(name)


def list_netns() -> list[str]:
    """`ip netns list`"""
    return list(netns.listnetns())


class Links:
    """One netlink handle in a namespace, for several changes in a row (each helper below
    opens its own). This thread enters NS (setns) to open it instead of forking a helper
    the way pyroute2's NetNS does: a fork beside gRPC's threads can crash the child."""

    def __init__(self, ns: str | None = None) -> None:
        self.ns = ns
        with in_netns(ns):
            self.api = IPRoute()

    def __enter__(self) -> Links:
        return self

    def __exit__(self, *exc: object) -> None:
        self.api.close()

    def _where(self) -> str:
        return self.ns or "the root namespace"

    def index(self, ifname: str | int) -> int:
        """The interface's index (an index is taken as it is: it survives a rename)."""
        if isinstance(ifname, int):
            return ifname
        found = self.api.link_lookup(ifname=ifname)
        if not found:
            raise NetnsError(f"no interface {ifname!r} in {self._where()}")
        return int(found[0])

    def set(self, link: str | int, /, **attrs: object) -> None:
        """`ip link set LINK ...` with pyroute2's attribute names: address=, state="up",
        net_ns_fd="ns2", ifname="new", mtu=, master=."""
        index = self.index(link)
        try:
            self.api.link("set", index=index, **attrs)
        except NetlinkError as exc:
            raise NetnsError(f"cannot set {attrs} on {link}: {exc}") from exc

    def delete(self, ifname: str) -> None:
        """`ip link del IF` (no error when it is gone already; a veth takes its peer)."""
        found = self.api.link_lookup(ifname=ifname)
        if found:
            with contextlib.suppress(NetlinkError):
                self.api.link("del", index=found[0])

    def addr_add(self, ifname: str | int, address: str, prefixlen: int) -> None:
        index = self.index(ifname)
        try:
            self.api.addr("add", index=index, address=address, prefixlen=prefixlen)
        except NetlinkError as exc:
            raise NetnsError(f"cannot add {address}/{prefixlen} to {ifname}: {exc}") from exc

    def route_default(self, gateway: str) -> None:
        try:
            self.api.route("replace", dst="0.0.0.0/0", gateway=gateway)
        except NetlinkError as exc:
            raise NetnsError(f"cannot route via {gateway} in {self._where()}: {exc}") from exc

    def neigh(self, ifname: str | int, ip: str, mac: str, state: int = 0x80) -> None:
        """`ip neigh replace IP lladdr MAC dev IF nud STATE` (default permanent)."""
        index = self.index(ifname)
        try:
            self.api.neigh("replace", dst=ip, lladdr=mac, ifindex=index, state=state)
        except NetlinkError as exc:
            raise NetnsError(f"cannot set neighbour {ip} on {ifname}: {exc}") from exc

    def neighbours(self, ifname: str | int) -> list[tuple[str, str]]:
        """`ip neigh show dev IF`: the (IPv4, MAC) pairs it has resolved."""
        index = self.index(ifname)
        out = []
        for n in self.api.get_neighbours(family=socket.AF_INET, ifindex=index):
            ip, mac = n.get_attr("NDA_DST"), n.get_attr("NDA_LLADDR")
            if ip and mac and n["state"] & (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE
                                            | NUD_PERMANENT):
                out.append((str(ip), str(mac)))
        return out


NUD_REACHABLE, NUD_STALE, NUD_DELAY, NUD_PROBE, NUD_PERMANENT = 0x02, 0x04, 0x08, 0x10, 0x80


def link_set(link: str, ns: str | None = None, **attrs: object) -> None:
    """`ip [-n NS] link set IF [address MAC] [up|down] [netns NS2] [name NEW] ...`

    pyroute2 attribute names: address=, state="up", net_ns_fd="ns2", ifname="new", mtu=.
    """
    with Links(ns) as links:
        links.set(link, **attrs)


def add_bridge(name: str, forward_lldp: bool = False) -> None:
    """`ip link add NAME type bridge` (up); with forward_lldp, LLDP crosses it too
    (`echo 0x4000 > /sys/class/net/NAME/bridge/group_fwd_mask`)."""
    _check_ifname(name)
    try:
        with IPRoute() as ipr:
            ipr.link("add", ifname=name, kind="bridge")
    except NetlinkError as exc:
        raise NetnsError(f"cannot add bridge {name}: {exc}") from exc
    disable_ipv6(name)
    if forward_lldp:
        Path(f"/sys/class/net/{name}/bridge/group_fwd_mask").write_text("0x4000")
    set_link_up(name)


def set_master(ifname: str, bridge: str | None) -> None:
    """`ip link set IF master BRIDGE` or, with None, `ip link set IF nomaster`."""
    if bridge is None:
        link_set(ifname, master=0)
        return
    with Links() as links:
        links.set(ifname, master=links.index(bridge))


def addr_add(ifname: str, address: str, prefixlen: int, ns: str | None = None) -> None:
    """`ip [-n NS] addr add ADDRESS/PREFIXLEN dev IF`"""
    with Links(ns) as links:
        links.addr_add(ifname, address, prefixlen)


def addresses(ifname: str, ns: str | None = None) -> list[tuple[str, int]]:
    """`ip [-n NS] -4 addr show dev IF`: its IPv4 (address, prefix length) pairs; none
    when there is no such interface."""
    with Links(ns) as links:
        found = links.api.link_lookup(ifname=ifname)
        if not found:
            return []
        return [(str(a.get_attr("IFA_ADDRESS")), int(a["prefixlen"]))
                for a in links.api.get_addr(family=socket.AF_INET, index=found[0])]


def addr_del(ifname: str, address: str, prefixlen: int, ns: str | None = None) -> None:
    """`ip [-n NS] addr del ADDRESS/PREFIXLEN dev IF` (no error when it is gone already)."""
    with Links(ns) as links:
        found = links.api.link_lookup(ifname=ifname)
        if found:
            with contextlib.suppress(NetlinkError):
                links.api.addr("del", index=found[0], address=address, prefixlen=prefixlen)


def disable_ipv6(ifname: str, ns: str | None = None) -> None:
    """`sysctl net.ipv6.conf.IF.disable_ipv6=1`: no router solicitations or MLD on test links."""
    with in_netns(ns):
        path = Path(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6")
        if path.exists():
            path.write_text("1")


def add_veth(name: str, peer: str, peer_ns: str | None = None, mtu: int | None = None,
             ns: str | None = None) -> None:
    """`ip [-n NS] link add NAME type veth peer name PEER [netns PEER_NS]`, both ends up,
    IPv6 off. As with `ip -n NS`, the peer is made in NS unless PEER_NS names another
    namespace; NS None is the root namespace."""
    _check_ifname(name)
    _check_ifname(peer)
    peer_spec: dict[str, object] = {"ifname": peer}
    if peer_ns and peer_ns != ns:
        peer_spec["net_ns_fd"] = peer_ns
    try:
        with Links(ns) as links:
            links.api.link("add", ifname=name, kind="veth", peer=peer_spec)
    except NetlinkError as exc:
        raise NetnsError(f"cannot add veth {name}/{peer}: {exc}") from exc
    peer_ns = peer_ns or ns
    disable_ipv6(name, ns)
    disable_ipv6(peer, peer_ns)
    set_link_up(name, ns, mtu=mtu)
    set_link_up(peer, peer_ns, mtu=mtu)


def add_bridge_in(name: str, ns: str) -> None:
    """`ip -n NS link add NAME type bridge` (up, IPv6 off, STP off): a hypervisor's switch."""
    _check_ifname(name)
    try:
        with Links(ns) as links:
            links.api.link("add", ifname=name, kind="bridge", br_stp_state=0)
    except NetlinkError as exc:
        raise NetnsError(f"cannot add bridge {name} in {ns}: {exc}") from exc
    disable_ipv6(name, ns)
    set_link_up(name, ns)


def set_master_in(ifname: str, bridge: str, ns: str | None) -> None:
    """`ip -n NS link set IF master BRIDGE`"""
    with Links(ns) as links:
        links.set(ifname, master=links.index(bridge))


def set_flood_in(ifname: str, ns: str | None, on: bool) -> None:
    """`bridge -n NS link set dev IF flood on|off`: whether the bridge floods frames for
    unknown MACs to this port (off: a port gets unicast only once its MAC is learned)."""
    with Links(ns) as links:
        links.set(ifname, kind="bridge_slave", unicast_flood=1 if on else 0)


def route_add_default(gateway: str, ns: str | None = None) -> None:
    """`ip -n NS route replace default via GATEWAY`"""
    with Links(ns) as links:
        links.route_default(gateway)


def neigh_set(ifname: str, ip: str, mac: str, ns: str | None = None) -> None:
    """`ip -n NS neigh replace IP lladdr MAC dev IF nud permanent`"""
    with Links(ns) as links:
        links.neigh(ifname, ip, mac)


def sysctl(key: str, value: str, ns: str | None = None) -> None:
    """`ip netns exec NS sysctl KEY=VALUE` for the per-namespace keys (net.*)."""
    with in_netns(ns):
        path = Path("/proc/sys") / key.replace(".", "/")
        try:
            path.write_text(value)
        except OSError as exc:
            raise NetnsError(f"cannot set {key}={value} in {ns}: {exc.strerror}") from exc


def set_offloads(ifname: str, ns: str | None = None, **features: bool) -> None:
    """`[ip netns exec NS] ethtool -K IF FEATURE on|off ...`, e.g. rxvlan=False, tx=False.

    Raw sockets see 802.1Q tags only with rxvlan off (else the kernel moves the
    tag out of the frame), and OVS's userspace datapath needs tx checksumming off.
    """
    ethtool = shutil.which("ethtool")
    if ethtool is None:
        raise NetnsError("ethtool is not installed (Debian package ethtool)")
    argv = [ethtool, "-K", ifname]
    for name, on in features.items():
        argv += [name, "on" if on else "off"]
    if ns:
        argv = ["ip", "netns", "exec", ns, *argv]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise NetnsError(f"{' '.join(argv)}: {result.stderr.strip()}")


_SIOCETHTOOL = 0x8946
_ETHTOOL_STXCSUM = 0x17


def set_tx_checksum(ifname: str, ns: str | None, on: bool) -> None:
    """`[ip netns exec NS] ethtool -K IF tx on|off`, by its ioctl (no ethtool process:
    the lab sets it on 772 interfaces for a k=8 fat-tree)."""
    _check_ifname(ifname)
    value = ctypes.create_string_buffer(struct.pack("=II", _ETHTOOL_STXCSUM, int(on)))
    request = struct.pack("16sP", ifname.encode(), ctypes.addressof(value)).ljust(40, b"\0")
    with in_netns(ns), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            fcntl.ioctl(s, _SIOCETHTOOL, request)
        except OSError as exc:
            raise NetnsError(f"cannot set tx checksumming {'on' if on else 'off'} on {ifname} "
                             f"in {ns or 'the root namespace'}: {exc.strerror}") from exc


def set_link_up(ifname: str, ns: str | None = None, mtu: int | None = None) -> None:
    """`ip [-n NS] link set IF up [mtu MTU]`"""
    if mtu:
        link_set(ifname, ns, state="up", mtu=mtu)
    else:
        link_set(ifname, ns, state="up")


def delete_link(ifname: str, ns: str | None = None) -> None:
    """`ip [-n NS] link del IF` (no error when it is gone already; a veth takes its peer)."""
    with Links(ns) as links:
        links.delete(ifname)


def link_exists(ifname: str, ns: str | None = None) -> bool:
    with Links(ns) as links:
        return bool(links.api.link_lookup(ifname=ifname))


_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NetnsError(f"setns failed: {os.strerror(err)}")


@contextlib.contextmanager
def in_netns(ns: str | None) -> Iterator[None]:
    """Run the body with this thread (only) in namespace `ns`; None: stay where we are.

    Sockets and netlink handles made inside stay in `ns` afterwards. The switch is
    checked, so nothing meant for a test namespace can leave from the host's own.
    """
    if not ns:
        yield
        return
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        try:
            target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        except FileNotFoundError:
            raise NetnsError(f"no network namespace {ns!r}") from None
        try:
            _setns(target)
            if os.stat("/proc/thread-self/ns/net").st_ino != os.fstat(target).st_ino:
                _setns(own)
                raise NetnsError(f"could not enter network namespace {ns!r}")
            try:
                yield
            finally:
                _setns(own)
        finally:
            os.close(target)
    finally:
        os.close(own)


def frame_sender(ifname: str, ns: str | None = None) -> socket.socket:
    """An AF_PACKET socket that only sends, out of IF in NS. Unlike raw_socket() it
    registers no receive hook, so making it costs no RCU grace period (tens of ms); it
    stays bound to the interface (by index) when the interface is renamed."""
    with in_netns(ns):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            sock.bind((ifname, 0))
        except OSError as exc:
            sock.close()
            raise NetnsError(f"no interface {ifname!r} in {ns or 'the root namespace'}"
                             ) from exc
    return sock


def raw_socket(ifname: str, ns: str | None = None) -> socket.socket:
    """An AF_PACKET socket bound to IF in NS; it stays in NS after this returns."""
    with in_netns(ns):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            sock.bind((ifname, 0))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.ENODEV:
                where = ns or "the root namespace"
                raise NetnsError(f"no interface {ifname!r} in {where}") from exc
            raise
    # Only frames that arrive on the link, not our own transmissions.
    sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    # The kernel takes 802.1Q tags out of received frames; auxdata gives them back.
    sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    return sock


def recv_frame(sock: socket.socket, flags: int = 0, size: int = 65535) -> bytes:
    """One frame from a raw_socket(), with its VLAN tag put back where it was on the wire."""
    data, ancillary, _, _ = sock.recvmsg(size, socket.CMSG_SPACE(_AUXDATA.size), flags)
    for level, kind, raw in ancillary:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(raw) >= _AUXDATA.size:
            status, _, _, _, _, tci, tpid = _AUXDATA.unpack_from(raw)
            if status & TP_STATUS_VLAN_VALID and len(data) >= 12:
                if not status & TP_STATUS_VLAN_TPID_VALID:
                    tpid = 0x8100
                data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
    return data
