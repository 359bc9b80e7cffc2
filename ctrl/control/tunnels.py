"""GRE tunnels on demand: which are up, which traffic needs, which sit idle. Pure.

A tunnel is one direction between two site gateways. It comes up (both
directions, as replies follow) the first time traffic needs it: an ARP for a
VM in the other site, or a frame a gateway punted because the tunnel was down.
When a VM changes site, every tunnel to its old site's gateway gets a twin to
the new one (re-homing), so its peers reach it without a punt. A tunnel whose
packet counter has not moved for `idle` seconds is released.
"""

from __future__ import annotations

from collections.abc import Iterable

Pair = tuple[str, str]  # (source gateway, destination gateway)


class TunnelUsage:
    def __init__(self, idle: float) -> None:
        self.idle = idle
        self.up: set[Pair] = set()
        self._seen: dict[Pair, tuple[int, float]] = {}  # counter, when it last moved

    def bring_up(self, pair: Pair, now: float) -> bool:
        """`pair` and its reverse are up; True when one of them was not."""
        a, b = pair
        new = {(a, b), (b, a)} - self.up
        for p in new:
            self.up.add(p)
            self._seen[p] = (-1, now)
        return bool(new)

    def rehome(self, old_gateway: str, new_gateway: str, now: float) -> bool:
        """Tunnels that reached `old_gateway` reach `new_gateway` too."""
        peers = {a for a, b in self.up if b == old_gateway and a != new_gateway}
        changed = False
        for peer in sorted(peers):
            changed |= self.bring_up((peer, new_gateway), now)
        return changed

    def observe(self, pair: Pair, packets: int, now: float) -> None:
        """The packet counter of an up tunnel, as read from its gateway."""
        last = self._seen.get(pair)
        if pair in self.up and (last is None or last[0] != packets):
            self._seen[pair] = (packets, now)

    def idle_since(self, now: float) -> list[Pair]:
        """Up tunnels whose counter has not moved for `idle` seconds."""
        return sorted(p for p in self.up if now - self._seen.get(p, (0, now))[1] >= self.idle)

    def release(self, pairs: Iterable[Pair]) -> None:
        for p in pairs:
            self.up.discard(p)
            self._seen.pop(p, None)
