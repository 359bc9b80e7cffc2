"""Shared fixtures of the benchmarks: a bmv2 switch with the mobility pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.p4rt.schema import P4Schema
from ctrl.targets.bmv2 import Bmv2Switch, find_simple_switch_grpc


@pytest.fixture(scope="module")
def build_paths() -> BuildPaths:
    return BuildPaths(project_root())


@pytest.fixture(scope="module")
def schema(build_paths: BuildPaths) -> P4Schema:
    return P4Schema.load(build_paths.p4info)


@pytest.fixture
def bmv2(tmp_path: Path) -> Iterator[Bmv2Switch]:
    """A fresh switch for each benchmark, so every round starts from empty tables."""
    if find_simple_switch_grpc() is None:
        pytest.skip("bmv2 simple_switch_grpc is not on PATH")
    sw = Bmv2Switch({}, log_file=tmp_path / "bmv2.log")
    sw.start()
    yield sw
    sw.stop()


RATIOS: dict[str, list[str]] = {}  # report title -> lines, printed at the end of the run


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for title, lines in RATIOS.items():
        terminalreporter.write_sep("-", title)
        for line in lines:
            terminalreporter.write_line(line)
