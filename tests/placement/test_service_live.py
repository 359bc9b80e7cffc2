"""The placement engine in the lab's controller (root, Open vSwitch): the laptop plays
from Packard, and the engine, through the lab's mover, migrates the game server there,
announced with cause "placement"; the API, `ctrl placement` and /metrics say so; the
server answers at its new place; `lab down` leaves nothing (the mover included)."""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from ctrl.cli import main
from ctrl.lab import build
from ctrl.lab.state import LabState
from ctrl.northbound.client import call
from tests.lab.labs import left_behind, new_state
from tests.packet.ovs_target import ovs_available
from tests.placement.test_traffic_live import send
from tests.traffic import udp_exchange

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and veth pairs"),
    pytest.mark.skipif(ovs_available() is not None, reason=str(ovs_available())),
]


def test_the_engine_moves_the_server_to_its_players(tmp_path: Path) -> None:
    state = new_state(tmp_path, "stanford", "pe")
    spec = build.up(state)
    try:
        reply = call(state.api, "placement/game-server",
                     {"policy": "follow-clients", "threshold": 0.2, "dwell": 1.0}, "PUT")
        assert isinstance(reply, dict) and reply["dwell"] == 1.0
        laptop, vm = spec.hosts["laptop"], spec.hosts["game-server"]
        sender = threading.Thread(target=send, args=(laptop.ns, vm.ip, 3000, 300.0))
        started = time.monotonic()
        sender.start()
        moved = None
        while time.monotonic() - started < 15 and moved is None:
            time.sleep(0.2)
            moved = next((e for e in LabState.load(state.dir).events()  # type: ignore[union-attr]
                          if e.get("host") == "game-server"), None)
        sender.join()
        assert moved is not None, "the engine did not move the server in 15 s"
        assert (moved["dst"], moved["cause"], moved["announced"]) == (
            "vmhost-packard", "placement", True)
        # From the first datagram to the server resuming: smoothing, a round, the mover.
        took = float(str(moved["resumed"])) - started
        assert took < 10.0, took
        finished = call(state.api, "migrations")
        assert isinstance(finished, dict)
        assert [m["cause"] for m in finished["finished"]] == ["placement"]
        status = call(state.api, "placement")
        assert isinstance(status, dict) and status["actuator"] == "lab"
        assert status["recent"][0]["ok"] and status["counters"]["succeeded"] == 1
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["placement", "--api", state.api]) == 0
        assert "game-server: follow-clients" in out.getvalue()
        assert "at vmhost-packard" in out.getvalue()
        with urllib.request.urlopen(f"http://{state.api}/metrics", timeout=5) as r:
            metrics = r.read().decode()
        assert 'mobility_placement_migrations_total{result="succeeded"} 1.0' in metrics
        assert udp_exchange(laptop.ns, vm.ns, vm.ip)
        again = LabState.load(state.dir)
        assert again is not None and again.locations["game-server"] == "vmhost-packard"
    finally:
        build.down(state)
    assert left_behind(spec, state) == []
