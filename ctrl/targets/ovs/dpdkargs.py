"""The datapath's command-line flags, shared by `ctrl ovs-target` and `ctrl lab up/demo`:
`--datapath netdev|dpdk` and the DPDK settings (ctrl.targets.ovs.dpdk.DpdkConfig).

`from_arguments` makes the configuration (None: the plain netdev datapath), `to_argv`
gives the flags back for a target started as a process of its own (the lab's).
"""

from __future__ import annotations

import argparse

from ctrl.targets.ovs.dpdk import (
    DATAPATHS,
    DEFAULT_MAXSLEEP_US,
    DEFAULT_MEMORY_MB,
    DRIVERS,
    MAX_SLEEP_US,
    DpdkConfig,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--datapath", choices=DATAPATHS, default="netdev",
                   help="netdev: the plain userspace ovs-vswitchd, kernel-socket ports (the "
                   "default); dpdk: Debian's DPDK build of ovs-vswitchd (openvswitch-switch-"
                   "dpdk), DPDK ports on the same interfaces, a PMD thread polling them")
    g = p.add_argument_group("DPDK datapath (with --datapath dpdk)")
    g.add_argument("--dpdk-memory", type=int, default=DEFAULT_MEMORY_MB, metavar="MB",
                   help="memory for the mempools of each ovs-vswitchd (default: %(default)s; "
                   "hugepages where enough are free, else plain memory)")
    g.add_argument("--pmd-cpu", type=int, metavar="CORE",
                   help="the core the PMD thread is pinned to (pmd-cpu-mask; default: the "
                   "last this process may use)")
    g.add_argument("--pmd-maxsleep", type=int, default=DEFAULT_MAXSLEEP_US, metavar="US",
                   help=f"the PMD's longest sleep when it finds little to do (OVS's "
                   f"load-based sleep, 0..{MAX_SLEEP_US} us; 0 busy-polls a whole core; "
                   "a sleeping PMD also holds up each flow change by up to 10 ms, the "
                   "period of its RCU quiescence; default: %(default)s)")
    g.add_argument("--dpdk-driver", choices=DRIVERS, default="af_packet",
                   help="the PMD of the ports on kernel interfaces (default: %(default)s)")
    g.add_argument("--hugepages", choices=("auto", "yes", "no"), default="auto",
                   help="auto: hugepages where enough are free (default)")


def from_arguments(args: argparse.Namespace) -> DpdkConfig | None:
    if args.datapath != "dpdk":
        return None
    return DpdkConfig(args.dpdk_memory, args.pmd_cpu, args.pmd_maxsleep, args.dpdk_driver,
                      args.hugepages)


def to_argv(config: DpdkConfig | None) -> list[str]:
    """The flags that make `config` again (none for the plain datapath)."""
    if config is None:
        return []
    argv = ["--datapath", "dpdk", "--dpdk-memory", str(config.memory_mb),
            "--pmd-maxsleep", str(config.pmd_maxsleep_us), "--dpdk-driver", config.driver,
            "--hugepages", config.hugepages]
    return argv + (["--pmd-cpu", str(config.pmd_cpu)] if config.pmd_cpu is not None else [])
