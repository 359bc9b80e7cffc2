"""Shared fixtures of the benchmarks: a bmv2 switch with the mobility pipeline, and
progress lines for the long ones."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
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


class Progress:
    """Lines on the terminal while a long benchmark runs (pytest keeps print()s until the
    test ends): what it does now, N of M, seconds since it began."""

    def __init__(self, write: Callable[[str], None], name: str) -> None:
        self._write = write
        self.name = name
        self.began = time.monotonic()

    def __call__(self, what: str) -> None:
        self._write(f"[bench] {self.name}: {what} ({time.monotonic() - self.began:.0f} s)")

    def step(self, what: str, n: int, total: int) -> None:
        self(f"{what} {n} of {total}")

    def rounds(self, total: int, what: str = "round",
               setup: Callable[[], None] | None = None) -> Callable[[], None]:
        """A `setup` for benchmark.pedantic (run before each round, outside its timing)
        that says which round comes, then does `setup`'s work."""
        count = [0]

        def before() -> None:
            count[0] += 1
            self.step(what, count[0], total)
            if setup is not None:
                setup()

        return before


def progress_of(request: pytest.FixtureRequest, name: str) -> Progress:
    """Progress lines on the terminal: through pytest's terminal reporter with its
    output capture set aside for the line (stderr without them)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def write(line: str) -> None:
        if reporter is None or capture is None:
            print(line, file=sys.stderr, flush=True)
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)
            reporter.flush()

    return Progress(write, name)


@pytest.fixture
def progress(request: pytest.FixtureRequest) -> Progress:
    return progress_of(request, request.node.name)


RATIOS: dict[str, list[str]] = {}  # report title -> lines, printed at the end of the run


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for title, lines in RATIOS.items():
        terminalreporter.write_sep("-", title)
        for line in lines:
            terminalreporter.write_line(line)
