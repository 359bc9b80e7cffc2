"""A target keeps its Open vSwitch daemons alive, and its devices with them.

ovs-vswitchd holds the flows in memory only: when it dies (a crash, kill -9) its
bridges forward nothing until it runs again and every flow is back. A `Supervisor`
watches one ovs-vswitchd (and the ovsdb-server beside it) for the devices of its
bridges. It notices the loss (an OpenFlow connection that ends, or the daemon's PID
gone, checked every `POLL_S`) and takes those devices out of service at once: the
P4Runtime server ends their streams UNAVAILABLE and refuses them until they are back,
so no controller is told that a pipeline forwards while its flows are gone. It starts
ovs-vswitchd again on the same run directory (the database keeps the bridges, ports,
GRE and patch ports, which the new daemon makes again; the underlay bridge's device
outlives it with its addresses), reconnects, and puts back from memory each device's
flows and groups in one bundle, and its underlay's routes and tunnel neighbours; then
the devices serve again and the controllers reconnect.

Why the target and not someone else: it started these daemons (or adopted those an
earlier target started) and holds its run directory's lock; nothing else on the
machine knows them (no service manager runs them; OVS's own `--monitor` restarts a
daemon after a crash signal, never after SIGKILL). Anyone may still start the daemon
first (an operator, a lab): its pidfile lets one run, and the supervisor takes that
one. A daemon that keeps dying is started again after a growing delay
(`respawn_delay`), so a crash loop does not spin.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from ctrl.targets.ovs.daemon import OvsDaemons
from ctrl.targets.ovs.device import Device
from ctrl.targets.ovs.errors import OvsError

log = logging.getLogger(__name__)

T = TypeVar("T")

POLL_S = 0.1          # how often the daemons' PIDs are checked
CRASH_WINDOW_S = 60.0  # deaths further back do not slow a respawn down
FIRST_DELAY_S = 0.5   # the second death within the window waits this, then doubling
MAX_DELAY_S = 10.0
RETRY_S = 0.5         # after a reconnection that failed
EXIT_S = 0.2          # a connection that broke: how long its daemon may take to be gone
VSWITCHD, OVSDB = "ovs-vswitchd", "ovsdb-server"


def respawn_delay(deaths: Sequence[float], now: float) -> float:
    """How long to wait before starting a daemon again, given when it died (time.monotonic()
    readings, the latest included): at once after the first death in `CRASH_WINDOW_S`,
    then `FIRST_DELAY_S`, doubling, at most `MAX_DELAY_S`. Pure."""
    recent = sum(1 for t in deaths if now - t <= CRASH_WINDOW_S)
    if recent <= 1:
        return 0.0
    return float(min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** (recent - 2)))


async def _in_thread(fn: Callable[[], T]) -> T:
    """`fn()` in a worker thread (it blocks on processes and sockets); a cancel waits for
    it to end, so that nothing it starts outlives the target's own stop."""
    fut = asyncio.ensure_future(asyncio.to_thread(fn))
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        await asyncio.wait([fut])
        raise


class Supervisor:
    """One ovs-vswitchd and ovsdb-server of `daemons`, kept running for `devices` (the
    devices of that daemon's bridges); `run()` until cancelled."""

    def __init__(self, daemons: OvsDaemons, devices: Sequence[Device],
                 poll: float = POLL_S) -> None:
        self.daemons = daemons
        self.devices = list(devices)
        self.poll = poll
        self.deaths: list[float] = []
        self.recoveries = 0   # times its devices were put back

    @property
    def name(self) -> str:
        return str(self.daemons.rundir)

    async def run(self) -> None:
        while True:
            try:
                await self._until_trouble()
                await self._recover()
            except (OSError, OvsError, RuntimeError) as exc:   # never the end of watching
                log.exception("%s: supervising failed: %s", self.name, exc)
                await asyncio.sleep(RETRY_S)

    async def _until_trouble(self) -> None:
        """Until a device's OpenFlow connection breaks or ovs-vswitchd's PID is gone;
        ovsdb-server is started again on the way when it died (the bridges forward on
        without it: ovs-vswitchd reconnects to it)."""
        lost = [asyncio.ensure_future(d.lost.wait()) for d in self.devices]
        try:
            while True:
                done, _ = await asyncio.wait(lost, timeout=self.poll,
                                             return_when=asyncio.FIRST_COMPLETED)
                if done or self.daemons.running(VSWITCHD) is None:
                    return
                if self.daemons.running(OVSDB) is None:
                    log.warning("%s: ovsdb-server is gone: starting it again", self.name)
                    try:
                        await _in_thread(self.daemons.start)
                    except (OSError, OvsError) as exc:
                        log.error("%s: ovsdb-server did not start: %s", self.name, exc)
        finally:
            for f in lost:
                f.cancel()

    async def _vanished(self, within: float = EXIT_S) -> bool:
        """Whether ovs-vswitchd's PID is gone, or goes `within` s: a daemon killed closes
        its sockets a moment before the kernel calls it a zombie."""
        deadline = time.monotonic() + within
        while self.daemons.running(VSWITCHD) is not None:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def _recover(self) -> None:
        gone = await self._vanished()
        why = ("its ovs-vswitchd is gone (flows lost): restarting it" if gone
               else "its OpenFlow connection broke: reconnecting")
        log.warning("%s: %s", self.name, why)
        lost_at = time.monotonic()
        for dev in self.devices:
            await dev.detach(why)
        while True:
            if self.daemons.running(VSWITCHD) is None:
                now = time.monotonic()
                self.deaths = [t for t in self.deaths if now - t <= CRASH_WINDOW_S] + [now]
                delay = respawn_delay(self.deaths, now)
                if delay:
                    log.warning("%s: ovs-vswitchd died %d times in %.0f s: starting it again "
                                "in %.1f s", self.name, len(self.deaths), CRASH_WINDOW_S,
                                delay)
                    await asyncio.sleep(delay)
                try:
                    await _in_thread(self.daemons.start)   # adopts one started meanwhile
                except (OSError, OvsError) as exc:
                    log.error("%s: ovs-vswitchd did not start: %s", self.name, exc)
                    continue
            up = time.monotonic()
            try:
                repairs = [await dev.reattach() for dev in self.devices]
            except (OSError, OvsError) as exc:
                log.error("%s: putting the flows back failed (%s): again in %.1f s",
                          self.name, exc, RETRY_S)
                for dev in self.devices:
                    await dev.detach(f"putting its flows back failed: {exc}")
                await asyncio.sleep(RETRY_S)
                continue
            self.recoveries += 1
            done = time.monotonic()
            log.warning("%s: devices %s serve again: %d OpenFlow messages put back in "
                        "%.0f ms after ovs-vswitchd ran (%.0f ms after the loss)", self.name,
                        ", ".join(str(d.device_id) for d in self.devices), sum(repairs),
                        (done - up) * 1e3, (done - lost_at) * 1e3)
            return


def supervise(daemons: Sequence[OvsDaemons], devices: Sequence[Device]) -> list[Supervisor]:
    """A supervisor per ovs-vswitchd, each with the devices of its bridges."""
    return [Supervisor(d, [dev for dev in devices if dev.vswitchd_ctl == d.vswitchd_ctl])
            for d in daemons]
