from __future__ import annotations

import pytest

from ctrl.p4build import BuildPaths, project_root
from ctrl.p4schema import P4Schema


@pytest.fixture(scope="session")
def build_paths() -> BuildPaths:
    return BuildPaths(project_root())


@pytest.fixture(scope="session")
def schema(build_paths: BuildPaths) -> P4Schema:
    return P4Schema.load(build_paths.p4info)
