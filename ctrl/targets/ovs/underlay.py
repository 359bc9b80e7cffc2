"""The underlay side of a P4 bridge's GRE: its underlay bridge, and what OVS's
tunneling needs there (see ctrl.targets.ovs.tunnel for what, and why).

`Underlay.configure()` (setup, ovs-vsctl) makes the underlay bridge, the P4 bridge's
flow-based GRE port and the patch pair between the two; `open()` takes over the
underlay bridge's flow table. `apply(want)` puts in place what a
`tunnel.UnderlayState` asks for: addresses through netlink in ovs-vswitchd's
namespace, routes and tunnel neighbours over its unixctl socket (no process per
write); it returns once OVS has seen every new address. `prune(want)` takes the
rest away, `close()` all it added. Tunnel neighbours cannot be deleted one by one
in OVS 3.1: those no route uses any more stay until they age out (15 min) or the
bridge goes; while in use they are set again every `REFRESH_S`, so they never age.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from dataclasses import replace
from pathlib import Path

from ctrl.platform import netns
from ctrl.targets.ovs import unixctl
from ctrl.targets.ovs.daemon import OvsDaemons
from ctrl.targets.ovs.errors import OvsError
from ctrl.targets.ovs.openflow import OpenFlowConnection
from ctrl.targets.ovs.ovsdb import OvsBridge, Transaction
from ctrl.targets.ovs.pipeline import (
    GRE_PORT,
    PATCH_PORT,
    UNDERLAY_PATCH_PORT,
    GreLayout,
    underlay_bridge_flows,
)
from ctrl.targets.ovs.tunnel import UnderlayState

log = logging.getLogger(__name__)

REFRESH_S = 60.0
SEEN_TIMEOUT_S = 10.0


def _ip(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def _mac(value: int) -> str:
    return ":".join(f"{b:02x}" for b in value.to_bytes(6, "big"))


def parse_user_routes(text: str, device: str) -> dict[int, int]:
    """`ovs-appctl ovs/route/show`'s user routes of /32s out of `device` with a gateway
    ("User: 192.0.2.7/32 dev BR-u GW 192.0.2.1 SRC 192.0.2.1"): destination -> gateway."""
    out: dict[int, int] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) < 6 or words[0] != "User:" or words[2:4] != ["dev", device] \
                or words[4] != "GW":
            continue
        dst, _, plen = words[1].partition("/")
        try:
            if plen == "32":
                out[int(ipaddress.IPv4Address(dst))] = int(ipaddress.IPv4Address(words[5]))
        except ValueError:
            continue
    return out


def _link_ready(name: str, ns: str | None) -> None:
    """The underlay bridge's LOCAL port up, without IPv6."""
    netns.disable_ipv6(name, ns)
    netns.set_link_up(name, ns)


def underlay_name(bridge: str) -> str:
    name = f"{bridge}-u"
    if len(name) > netns.IFNAMSIZ:
        raise OvsError(f"bridge {bridge}: a GRE bridge's name has at most "
                       f"{netns.IFNAMSIZ - 2} characters (its underlay bridge is {name})")
    return name


class Underlay:
    def __init__(self, bridge: str, mgmt_socket: Path, vswitchd_ctl: Path, ns: str | None,
                 mac: int) -> None:
        self.bridge = bridge
        self.mgmt_socket = mgmt_socket
        self.vswitchd_ctl = vswitchd_ctl
        self.netns = ns
        self.layout = GreLayout(mac)
        self.applied = UnderlayState()
        self._conn: OpenFlowConnection | None = None
        self._refresher: asyncio.Task[None] | None = None

    @staticmethod
    def configure(tx: Transaction, p4: str) -> None:
        """`ovs-vsctl add-br BR-u ...`, `add-port BR BR-gre` (type=gre, flow-based) and the
        patch ports BR-ul / BR-u-p4, into `tx`."""
        name = underlay_name(p4)
        tx.add_bridge(name)
        tx.add_gre_port(p4, f"{p4}-gre", GRE_PORT)
        tx.add_patch(p4, f"{p4}-ul", PATCH_PORT, name, f"{name}-p4", UNDERLAY_PATCH_PORT)

    @classmethod
    def made(cls, daemons: OvsDaemons, p4: str) -> Underlay:
        """The underlay of `p4` once `configure`'s transaction is done: its LOCAL port up,
        without IPv6."""
        name = underlay_name(p4)
        _link_ready(name, daemons.netns)
        return cls(name, daemons.mgmt_socket(name), daemons.vswitchd_ctl, daemons.netns,
                   OvsBridge(daemons, name).mac())

    async def open(self) -> None:
        """Take over the underlay bridge's flows (one atomic bundle: the frames in flight
        see the old flows or the new), and what an earlier target left in place."""
        self._conn = OpenFlowConnection(self.mgmt_socket, self.bridge)
        await self._conn.open()
        await self._conn.apply(underlay_bridge_flows())
        await self._discover()
        self._refresher = asyncio.create_task(self._refresh_neighbours(),
                                              name=f"tnl-neigh-{self.bridge}")

    async def reopen(self) -> None:
        """`open` again on an ovs-vswitchd started anew: the LOCAL port's device (a tap
        that outlives the daemon, with its addresses and MAC) up, the flows, what is in
        place found again, and each address waited for until the new daemon routes from
        it and terminates GRE on it. Its routes and tunnel neighbours died with the old
        daemon: `apply` sets them again. `close(keep=True)` first."""
        await asyncio.to_thread(_link_ready, self.bridge, self.netns)
        await self.open()
        if self.applied.addresses:
            await self._wait_until_seen(self.applied.addresses)

    async def _discover(self) -> None:
        """What is in place already (a target before this one, killed, left it): the /32
        addresses of the underlay bridge's LOCAL port, and OVS's user routes out of it.
        `apply` then adds only what is missing and `prune` takes away the rest."""
        found = await asyncio.to_thread(netns.addresses, self.bridge, self.netns)
        addresses = frozenset(int(ipaddress.IPv4Address(a)) for a, n in found if n == 32)
        text = await unixctl.call(self.vswitchd_ctl, "ovs/route/show")
        self.applied = UnderlayState(addresses, parse_user_routes(text, self.bridge))
        if addresses or self.applied.routes:
            log.info("%s: found %d underlay addresses and %d routes in place", self.bridge,
                     len(addresses), len(self.applied.routes))

    async def close(self, keep: bool = False) -> None:
        """Stop; unless `keep`, take away every address and route that is in place."""
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        try:
            if not keep:
                await self.prune(UnderlayState())
        except (OSError, OvsError) as exc:
            log.warning("%s: cleaning up the underlay: %s", self.bridge, exc)
        if self._conn is not None:
            await self._conn.close()

    async def settle(self, want: UnderlayState) -> None:
        """Exactly `want`: what is missing added, what is more taken away."""
        await self.apply(want)
        await self.prune(want)

    async def apply(self, want: UnderlayState) -> None:
        """Add what `want` has and is not in place; keep the rest."""
        new = want.addresses - self.applied.addresses
        for address in sorted(new):
            # pyroute2's IPRoute will not run on a thread with an event loop
            await asyncio.to_thread(netns.addr_add, self.bridge, _ip(address), 32, self.netns)
            self.applied = replace(self.applied,
                                   addresses=self.applied.addresses | {address})
        if new:
            await self._wait_until_seen(new)
        routes = dict(self.applied.routes)
        for dst, gw in sorted(want.routes.items()):
            if routes.get(dst) == gw:
                continue
            await self._neighbour(gw)
            await self._until_accepted("ovs/route/add", f"{_ip(dst)}/32", self.bridge, _ip(gw))
            routes[dst] = gw
            self.applied = replace(self.applied, routes=dict(routes))

    async def prune(self, want: UnderlayState) -> None:
        """Take away what is in place and `want` does not have."""
        routes = dict(self.applied.routes)
        for dst in sorted(set(routes) - set(want.routes)):
            with contextlib.suppress(OvsError):  # "Not found": gone already
                await unixctl.call(self.vswitchd_ctl, "ovs/route/del", f"{_ip(dst)}/32")
            del routes[dst]
            self.applied = replace(self.applied, routes=dict(routes))
        for address in sorted(self.applied.addresses - want.addresses):
            await asyncio.to_thread(netns.addr_del, self.bridge, _ip(address), 32, self.netns)
            self.applied = replace(self.applied,
                                   addresses=self.applied.addresses - {address})

    async def _neighbour(self, ip: int) -> None:
        """`ovs-appctl tnl/neigh/set BR IP MAC`"""
        await unixctl.call(self.vswitchd_ctl, "tnl/neigh/set", self.bridge, _ip(ip),
                           _mac(self.layout.underlay_mac))

    async def _refresh_neighbours(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            for gw in sorted(self.applied.neighbours):
                try:
                    await self._neighbour(gw)
                except (OSError, OvsError) as exc:
                    log.warning("%s: refreshing tunnel neighbour %s: %s", self.bridge,
                                _ip(gw), exc)

    async def _until_accepted(self, command: str, *args: str) -> None:
        """`ovs-appctl COMMAND ARGS`, again until OVS accepts it: a route is refused
        until OVS's copy of the port's addresses has the new one."""
        deadline = asyncio.get_running_loop().time() + SEEN_TIMEOUT_S
        while True:
            try:
                await unixctl.call(self.vswitchd_ctl, command, *args)
                return
            except OvsError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
            await asyncio.sleep(0.01)

    async def _wait_until_seen(self, addresses: set[int] | frozenset[int]) -> None:
        """Until OVS routes from each address (a local route: tun_src may be it) and pops
        GRE sent to it (a listening tunnel port on this bridge's MAC)."""
        mac = _mac(self.layout.underlay_mac)
        wanted = [(f"{_ip(a)}/32 dev {self.bridge} SRC {_ip(a)} local",
                   f"eth(dst={mac}),eth_type(0x0800),ipv4(dst={_ip(a)},proto=47")
                  for a in sorted(addresses)]
        deadline = asyncio.get_running_loop().time() + SEEN_TIMEOUT_S
        while True:
            routes = await unixctl.call(self.vswitchd_ctl, "ovs/route/show")
            ports = await unixctl.call(self.vswitchd_ctl, "tnl/ports/show", "-v")
            if all(r in routes and p in ports for r, p in wanted):
                return
            if asyncio.get_running_loop().time() > deadline:
                raise OvsError(f"{self.bridge}: OVS did not take up the underlay addresses "
                               f"{', '.join(_ip(a) for a in sorted(addresses))}")
            await asyncio.sleep(0.01)
