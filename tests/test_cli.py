"""The `ctrl` command line: help, exit codes and messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctrl.cli import main
from ctrl.p4rt.build import BuildPaths


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "build" in out and "p4info" in out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["teleport"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_build_check_passes_on_the_committed_build(capsys: pytest.CaptureFixture[str],
                                                   build_paths: BuildPaths) -> None:
    assert main(["build", "--check", "--root", str(build_paths.root)]) == 0
    assert "matches the P4 sources" in capsys.readouterr().out


def test_build_check_fails_on_changed_sources(tmp_path: Path, build_paths: BuildPaths,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    shutil.copytree(build_paths.sources, tmp_path / "dataplane/p4")
    shutil.copytree(build_paths.root / "build", tmp_path / "build")
    (tmp_path / "dataplane/p4/include/size.p4").write_text("// changed\n")
    assert main(["build", "--check", "--root", str(tmp_path)]) == 1
    assert "stale" in capsys.readouterr().out


def test_p4info_lists_tables(capsys: pytest.CaptureFixture[str], build_paths: BuildPaths) -> None:
    assert main(["p4info", str(build_paths.p4info)]) == 0
    out = capsys.readouterr().out
    assert "bridging [65536] (vnet_id:12, eth_dst:48)" in out
    assert "@packet_in (ingress_port:9" in out


def test_p4info_missing_file_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["p4info", "/nonexistent.p4info"]) == 2
    assert "cannot read P4Info /nonexistent.p4info" in capsys.readouterr().err


def test_serve_names_a_libvirt_hypervisor_the_topology_lacks(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.topologies import TOPO

    topology = tmp_path / "t.yaml"
    topology.write_text(TOPO)
    for option in ("--libvirt", "--libvirt-migrate-uri"):
        assert main(["serve", "--topology", str(topology), option, "mars=test:///default"]) == 2
        err = capsys.readouterr().err
        assert f"{option} 'mars=test:///default': no hypervisor 'mars'" in err
        assert "h1, h2, h3, h4" in err


def test_serve_with_libvirt_says_what_to_install_without_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from tests.topologies import TOPO

    topology = tmp_path / "t.yaml"
    topology.write_text(TOPO)
    monkeypatch.setitem(sys.modules, "libvirt", None)   # `import libvirt` fails
    assert main(["serve", "--topology", str(topology), "--libvirt", "h1=test:///default"]) == 2
    assert "libvirt-python is not installed (pip install libvirt-python" in \
        capsys.readouterr().err
