"""The datapath's flags: parsed into a DpdkConfig, and given back for a target process."""

from __future__ import annotations

import argparse

import pytest

from ctrl.targets.ovs import dpdkargs
from ctrl.targets.ovs.dpdk import DpdkConfig
from ctrl.targets.ovs.errors import OvsError


def _parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    dpdkargs.add_arguments(p)
    return p.parse_args(argv)


def test_the_plain_datapath_is_the_default() -> None:
    assert dpdkargs.from_arguments(_parse()) is None
    assert dpdkargs.from_arguments(_parse("--pmd-maxsleep", "50")) is None
    assert dpdkargs.to_argv(None) == []


def test_dpdk_with_its_settings_and_back() -> None:
    got = dpdkargs.from_arguments(_parse("--datapath", "dpdk", "--dpdk-memory", "512",
                                         "--pmd-cpu", "1", "--pmd-maxsleep", "0",
                                         "--dpdk-driver", "af_xdp", "--hugepages", "no"))
    assert got == DpdkConfig(512, 1, 0, "af_xdp", "no")
    assert dpdkargs.from_arguments(_parse(*dpdkargs.to_argv(got))) == got
    default = DpdkConfig()
    assert dpdkargs.from_arguments(_parse(*dpdkargs.to_argv(default))) == default


def test_bad_values_are_refused() -> None:
    with pytest.raises(OvsError, match="pmd-maxsleep 20000 us"):
        dpdkargs.from_arguments(_parse("--datapath", "dpdk", "--pmd-maxsleep", "20000"))
    with pytest.raises(SystemExit):
        _parse("--datapath", "kernel")
