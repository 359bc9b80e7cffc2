from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctrl.p4rt.build import BuildPaths, project_root
from ctrl.p4rt.schema import P4Schema
from ctrl.vm.libvirtd import SessionLibvirtd


@pytest.fixture(scope="session")
def build_paths() -> BuildPaths:
    return BuildPaths(project_root())


@pytest.fixture(scope="session")
def schema(build_paths: BuildPaths) -> P4Schema:
    return P4Schema.load(build_paths.p4info)


@pytest.fixture
def daemons() -> Iterator[tuple[SessionLibvirtd, SessionLibvirtd]]:
    """Two private libvirtds (session mode, QEMU driver), hypervisors hv-a and hv-b."""
    # Not under pytest's tmp_path: the daemon's user must be able to reach its directory.
    with tempfile.TemporaryDirectory(prefix="vm-libvirtd-") as tmp:
        os.chmod(tmp, 0o755)
        with SessionLibvirtd(Path(tmp) / "hv-a") as a, SessionLibvirtd(Path(tmp) / "hv-b") as b:
            yield a, b
