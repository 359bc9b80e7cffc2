"""Open vSwitch on DPDK's datapath: Debian's DPDK build of ovs-vswitchd, its EAL, its ports.

The OVS target runs the userspace (netdev) datapath either way; with a `DpdkConfig`
(`ctrl ovs-target --datapath dpdk`) its ovs-vswitchd is Debian's DPDK build
(`openvswitch-switch-dpdk`, started by its own path: the system's alternative for
ovs-vswitchd stays the plain build), the bridges' ports are DPDK ports on the same
interfaces (the af_packet PMD, or af_xdp, on the lab's veths) and a PMD thread polls
them. What it needs beyond that package: the PMD's library (`librte-net-af-packet23`)
and the ring mempool driver (`librte-mempool-ring23`; without it every DPDK port fails
with "Failed to create mempool ... Invalid argument").

EAL: no hugepages are needed (`--no-huge -m MB --legacy-mem --no-shconf`: plain memory,
and no shared config files, so several DPDK ovs-vswitchd run side by side, one per
site's namespace); where the machine has enough free hugepages they are used instead
(`dpdk-socket-mem`; OVS then adds `--in-memory` itself). `--no-pci`: no device is
probed, only the virtual ones the ports name.

CPU on a small machine: the PMD thread is pinned to one core (`pmd-cpu-mask`; by
default the last one this process may use, so the EAL's main thread, the controller
and the probe keep the first), and sleeps when it finds little to do
(`pmd-maxsleep`, OVS 3.1's load-based sleep: a PMD that polls in vain sleeps up
to that many microseconds, so an idle lab costs a few percent of a core, not all
of it; each sleep is latency a packet may wait: bench/bench_ovs_dpdk.py measures it).
A sleeping PMD also slows flow changes: after each one ovs-vswitchd's main thread waits
for an RCU grace period, which ends when the PMD quiesces, and OVS 3.1's sleeping PMD
quiesces only every 10 ms, so each Write that changes flows takes 0-10 ms longer than
on the netdev datapath (ctrl.targets.ovs.device.Device.write). A busy PMD (maxsleep 0)
quiesces within microseconds, if it has its core to itself: on a 2-core machine
sharing that core it did not help (README, "OVS-DPDK").
"""

from __future__ import annotations

import glob
import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ctrl.targets.ovs.errors import OvsError

if TYPE_CHECKING:
    from ctrl.targets.ovs.daemon import OvsDaemons

log = logging.getLogger(__name__)

VSWITCHD = Path("/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk")
PMD_DIRS = "/usr/lib/*/dpdk/pmds-*"      # where Debian's EAL loads its drivers from
DRIVERS = ("af_packet", "af_xdp")        # PMDs that take a kernel interface
# What has to be installed, and which Debian package has it.
PACKAGES = {"af_packet": "librte-net-af-packet23", "af_xdp": "librte-net-af-xdp23",
            "mempool_ring": "librte-mempool-ring23", VSWITCHD.name: "openvswitch-switch-dpdk"}
DATAPATHS = ("netdev", "dpdk")
MAX_SLEEP_US = 10_000                    # OVS 3.1's upper bound for pmd-maxsleep
DEFAULT_MEMORY_MB = 256
DEFAULT_MAXSLEEP_US = 200
INIT_TIMEOUT_S = 20.0
_DEVARGS_NAME = re.compile(r"[^A-Za-z0-9_]")


@dataclass(frozen=True, slots=True)
class DpdkConfig:
    """How the DPDK build of ovs-vswitchd runs: memory for its mempools (MB), the core
    of its PMD thread (None: the last this process may use), the PMD's longest sleep
    when idle (us; 0: busy-poll), the PMD driver of its ports, and whether to use
    hugepages ("auto": where enough are free)."""

    memory_mb: int = DEFAULT_MEMORY_MB
    pmd_cpu: int | None = None
    pmd_maxsleep_us: int = DEFAULT_MAXSLEEP_US
    driver: str = "af_packet"
    hugepages: str = "auto"

    def __post_init__(self) -> None:
        if not 64 <= self.memory_mb <= 1 << 20:
            raise OvsError(f"DPDK memory {self.memory_mb} MB: give 64 MB or more")
        if not 0 <= self.pmd_maxsleep_us <= MAX_SLEEP_US:
            raise OvsError(f"pmd-maxsleep {self.pmd_maxsleep_us} us: OVS takes 0..{MAX_SLEEP_US}")
        if self.pmd_cpu is not None and self.pmd_cpu < 0:
            raise OvsError(f"PMD core {self.pmd_cpu}: no such core")
        if self.driver not in DRIVERS:
            raise OvsError(f"DPDK driver {self.driver!r}: one of {', '.join(DRIVERS)}")
        if self.hugepages not in ("auto", "yes", "no"):
            raise OvsError(f"hugepages {self.hugepages!r}: auto, yes or no")

    def other_config(self, cpus: set[int], free_hugepages_mb: int) -> dict[str, str]:
        """The Open_vSwitch table's other_config for this configuration on a machine
        whose process may use `cpus` and has `free_hugepages_mb` free. Pure."""
        cpu = self.pmd_cpu if self.pmd_cpu is not None else max(cpus)
        if cpu not in cpus:
            raise OvsError(f"PMD core {cpu}: this process may use cores "
                           f"{', '.join(map(str, sorted(cpus)))}")
        huge = self.uses_hugepages(free_hugepages_mb)
        extra = "--no-pci" if huge else \
            f"--no-huge -m {self.memory_mb} --no-pci --legacy-mem --no-shconf"
        config = {"dpdk-init": "true", "dpdk-extra": extra,
                  "pmd-cpu-mask": f"{1 << cpu:#x}",
                  "pmd-maxsleep": str(self.pmd_maxsleep_us)}
        if huge:
            config |= {"dpdk-socket-mem": str(self.memory_mb),
                       "dpdk-socket-limit": str(self.memory_mb)}
        return config

    def uses_hugepages(self, free_hugepages_mb: int) -> bool:
        enough = free_hugepages_mb >= self.memory_mb
        if self.hugepages == "yes" and not enough:
            raise OvsError(f"hugepages asked for, but {free_hugepages_mb} MB are free and "
                           f"DPDK is to take {self.memory_mb} MB")
        return self.hugepages == "yes" or (self.hugepages == "auto" and enough)

    def port_options(self, ifname: str) -> tuple[str, list[str]]:
        """The interface type and options of a DPDK port on kernel interface `ifname`
        (in ovs-vswitchd's namespace); its virtual device is named after the interface,
        unique within one ovs-vswitchd. Pure."""
        vdev = f"net_{self.driver}_{_DEVARGS_NAME.sub('_', ifname)}"
        return "dpdk", [f"options:dpdk-devargs={vdev},iface={ifname}"]

    def prepare(self, daemons: OvsDaemons) -> str:
        """Set the EAL's and the PMD's configuration in the database (ovsdb-server runs,
        ovs-vswitchd not yet); the binary to start."""
        if (why := unavailable(self)) is not None:
            raise OvsError(f"DPDK datapath: {why}")
        config = self.other_config(os.sched_getaffinity(0), free_hugepages_mb())
        _vsctl(daemons, "--no-wait", "set", "Open_vSwitch", ".",
               *(f"other_config:{k}={v}" for k, v in config.items()))
        log.info("%s: DPDK datapath: %s", daemons.rundir,
                 ", ".join(f"{k}={v}" for k, v in config.items()))
        return str(VSWITCHD)

    def check_started(self, daemons: OvsDaemons, timeout: float = INIT_TIMEOUT_S) -> None:
        """Until ovs-vswitchd says DPDK is initialized; an OvsError with the EAL's own
        words (from its log) when it exits or does not get there in `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            got = _vsctl(daemons, "--no-wait", "get", "Open_vSwitch", ".", "dpdk_initialized")
            if got.strip() == "true":
                return
            if daemons.running("ovs-vswitchd") is None or time.monotonic() > deadline:
                raise OvsError(f"DPDK did not initialize in ovs-vswitchd under "
                               f"{daemons.rundir}: {log_errors(daemons)}")
            time.sleep(0.05)


def log_errors(daemons: OvsDaemons) -> str:
    """What ovs-vswitchd's log last said went wrong (EAL, DPDK ports), on one line."""
    logfile = daemons.rundir / "ovs-vswitchd.log"
    try:
        text = logfile.read_text(errors="replace")
    except OSError:
        return f"no log at {logfile}"
    return eal_errors(text) or "its log says nothing"


def is_dpdk_vswitchd(cmdline: str) -> bool:
    """Whether a process's command line is the DPDK build of ovs-vswitchd."""
    return cmdline.split(" ", 1)[0].endswith(VSWITCHD.name)


def _vsctl(daemons: OvsDaemons, *args: str) -> str:
    from ctrl.targets.ovs.ovsdb import vsctl  # ovsdb imports daemon, which names us
    return vsctl(daemons, list(args), what=f"{daemons.rundir} (DPDK)")


def eal_errors(log_text: str, lines: int = 4) -> str:
    """The last error lines of an ovs-vswitchd log (EAL and netdev_dpdk), on one line."""
    found = [line.split("|", 4)[-1] for line in log_text.splitlines()
             if "|ERR|" in line or "|EMER|" in line or "|dpdk|WARN|" in line]
    return " / ".join(found[-lines:])


def parse_meminfo(text: str) -> int:
    """Free hugepages in MB from /proc/meminfo's text (HugePages_Free x Hugepagesize)."""
    fields: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        words = value.split()
        if words and words[0].isdigit():
            fields[key.strip()] = int(words[0])
    return fields.get("HugePages_Free", 0) * fields.get("Hugepagesize", 0) // 1024


def free_hugepages_mb() -> int:
    try:
        return parse_meminfo(Path("/proc/meminfo").read_text())
    except OSError:
        return 0


def missing(driver: str, files: Mapping[str, bool]) -> list[str]:
    """The Debian packages missing for `driver`, given which files are there
    (`installed()`). Pure."""
    need = (VSWITCHD.name, driver, "mempool_ring")
    return [PACKAGES[n] for n in need if not files.get(n)]


def installed(driver: str) -> dict[str, bool]:
    """Which of the DPDK build's pieces are on this machine: the binary, the PMD's
    library and the mempool driver."""
    def lib(name: str) -> bool:
        return any(glob.glob(f"{d}/librte_{name}.so*") for d in glob.glob(PMD_DIRS))
    return {VSWITCHD.name: os.access(VSWITCHD, os.X_OK),
            driver: lib(f"net_{driver}"), "mempool_ring": lib("mempool_ring")}


def unavailable(config: DpdkConfig | None = None) -> str | None:
    """None when the DPDK datapath can start here, else why not (what to install)."""
    driver = (config or DpdkConfig()).driver
    lacking = missing(driver, installed(driver))
    if lacking:
        return (f"the DPDK build of Open vSwitch is not all here (Debian: apt-get install "
                f"{' '.join(lacking)})")
    if os.geteuid() != 0:
        return "DPDK's ovs-vswitchd needs root"
    return None
