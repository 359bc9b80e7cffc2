"""vagrant/ cannot boot here; its Vagrantfile must parse and its scripts must pass shellcheck."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ctrl.p4rt.build import BuildPaths


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (./run installs it from Debian)")
    return path


def test_vagrantfile_is_valid_ruby(build_paths: BuildPaths) -> None:
    result = subprocess.run([_tool("ruby"), "-c", str(build_paths.root / "vagrant/Vagrantfile")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "Syntax OK" in result.stdout


@pytest.mark.parametrize("script", ["vagrant/provision.sh", "run", ".ci/run"])
def test_shell_scripts_pass_shellcheck(build_paths: BuildPaths, script: str) -> None:
    result = subprocess.run([_tool("shellcheck"), str(build_paths.root / script)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
