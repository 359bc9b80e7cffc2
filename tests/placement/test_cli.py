"""`ctrl serve`'s placement options and `ctrl placement`: what cannot be used is said
before anything starts (exit 2, nothing connected)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctrl.cli import build_parser, main
from ctrl.control.runner import Controller
from ctrl.control.topology import load_topology, to_yaml
from ctrl.lab.cli import read_topology
from ctrl.lab.spec import parse_lab
from ctrl.p4rt.schema import P4Schema
from ctrl.placement.cli import attach_actuator, build_service, check_serve_arguments


def topology(tmp_path: Path, policy: str = "follow-clients") -> Path:
    topo = parse_lab(*read_topology("stanford")).topology
    text = to_yaml(topo).replace("policy: follow-clients", f"policy: {policy}")
    path = tmp_path / "topology.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("extra", "policy", "message"), [
    ([], "nope", "no mobility manager 'nope' (loaded: follow-clients, pack)"),
    (["--mobility-manager", "tests.placement.plugins"], "follow-clients",
     "give it as module:Class"),
    (["--mobility-manager", "tests.placement.plugins:broken_factory"], "follow-clients",
     "failed to start: OSError"),
    (["--placement-actuator", "ssh:x"], "follow-clients", "libvirt, lab:STATE_DIR, none"),
    (["--placement-actuator", "libvirt"], "follow-clients", "needs --libvirt"),
    (["--placement-interval", "0"], "follow-clients", "seconds > 0"),
])
def test_serve_refuses_what_it_cannot_use(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          extra: list[str], policy: str, message: str
                                          ) -> None:
    rc = main(["serve", "--topology", str(topology(tmp_path, policy)), "--api",
               "127.0.0.1:1", *extra])
    err = capsys.readouterr().err
    assert rc == 2 and message in err, err
    if policy == "nope":
        assert f"{tmp_path / 'topology.yaml'}:" in err   # where the file says it


def test_a_loaded_manager_may_be_named_by_a_policy(tmp_path: Path, schema: P4Schema) -> None:
    args = build_parser().parse_args([
        "serve", "--topology", str(topology(tmp_path, "nearest")), "--mobility-manager",
        "tests.placement.plugins:Nearest", "--placement-state", str(tmp_path / "p.json")])
    managers = check_serve_arguments(args)
    assert [m.name for m in managers] == ["follow-clients", "pack", "nearest"]
    controller = Controller(load_topology(args.topology), schema, b"{}")
    service = build_service(args, controller, managers)
    assert service.engine.policies["game-server"].name == "nearest"
    assert service.actuator is None and service.store.path == tmp_path / "p.json"
    attach_actuator(args, service, None)       # auto, without --libvirt: advice only
    assert service.actuator is None and not service.engine.actuate
    args.placement_actuator = f"lab:{tmp_path}"
    attach_actuator(args, service, None)
    assert service.actuator is not None and service.actuator.name == "lab"
    assert service.engine.actuate
