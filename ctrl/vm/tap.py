"""Tap devices for guests: made persistent in a namespace, put on its bridge, and
opened later by QEMU (`-netdev tap,ifname=...`).

A tap's own MAC is never the guest's: the bridge would take frames for the guest
as its own. It gets the guest's MAC with the first octet 0xfe, as libvirt does.
"""

from __future__ import annotations

import fcntl
import os
import struct

from ctrl.platform import netns

TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
_IFREQ = struct.Struct("16sH22x")


def tap_mac(guest_mac: str) -> str:
    """The tap's own MAC for a guest's: 52:54:00:12:34:56 -> fe:54:00:12:34:56."""
    octets = guest_mac.lower().split(":")
    if len(octets) != 6 or not all(len(o) == 2 for o in octets):
        raise netns.NetnsError(f"bad MAC address {guest_mac!r}")
    try:
        int("".join(octets), 16)
    except ValueError:
        raise netns.NetnsError(f"bad MAC address {guest_mac!r}") from None
    return ":".join(["fe", *octets[1:]])


def add_tap(name: str, ns: str, bridge: str, guest_mac: str, mtu: int | None = None,
            flood: bool = True) -> None:
    """`ip -n NS tuntap add dev NAME mode tap vnet_hdr; ip -n NS link set NAME address
    fe:..  master BRIDGE up`: a persistent tap for a guest, on the bridge, IPv6 off.
    With `flood` False (`bridge link set dev NAME flood off`), the bridge sends it no
    frame for an unknown MAC: the tap of a guest still to come in by migration gets the
    guest's traffic only once QEMU has announced it there."""
    if not 0 < len(name) <= netns.IFNAMSIZ:
        raise netns.NetnsError(f"interface name {name!r} must have 1..{netns.IFNAMSIZ} "
                               "characters")
    mac = tap_mac(guest_mac)
    with netns.in_netns(ns):
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR)
        except OSError as exc:
            raise netns.NetnsError(f"cannot open /dev/net/tun: {exc.strerror}") from exc
        try:
            fcntl.ioctl(fd, TUNSETIFF, _IFREQ.pack(name.encode(),
                                                   IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
            fcntl.ioctl(fd, TUNSETPERSIST, 1)
        except OSError as exc:
            raise netns.NetnsError(f"cannot make tap {name} in {ns}: {exc.strerror}") from exc
        finally:
            os.close(fd)
    try:
        netns.disable_ipv6(name, ns)
        with netns.Links(ns) as links:
            attrs: dict[str, object] = {"address": mac, "master": links.index(bridge),
                                        "state": "up"}
            if mtu:
                attrs["mtu"] = mtu
            links.set(name, **attrs)
            if not flood:
                links.set(name, kind="bridge_slave", unicast_flood=0)
    except BaseException:
        netns.delete_link(name, ns)
        raise


def delete_tap(name: str, ns: str) -> None:
    """`ip -n NS link del NAME` (no error when it, or its namespace, is gone)."""
    if ns in netns.list_netns():
        netns.delete_link(name, ns)
