"""The lab's mover, as the controller's lab actuator runs it: one process, a JSON line
each way; what it cannot do is an answer, not its end."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from ctrl.lab.mover import serve
from ctrl.placement.actuate import ActuatorError, LabActuator


def test_bad_requests_and_no_lab_are_answered(tmp_path: Path) -> None:
    lines = io.StringIO('{"vm": "a", "to": "b"}\nnot json\n{"to": "b"}\n')
    out = io.StringIO()
    serve(tmp_path, lines, out)
    replies = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["ok"] for r in replies] == [False, False, False]
    assert replies[0]["error"] == f"no lab is up in {tmp_path}"
    assert replies[1]["error"].startswith("not a request")
    assert replies[2]["error"].startswith("not a request")


def test_the_actuator_keeps_one_mover_and_says_why_a_move_failed(tmp_path: Path) -> None:
    async def go() -> None:
        actuator = LabActuator(tmp_path, timeout=60)
        await actuator.prepare()
        proc = actuator._proc
        assert proc is not None and proc.returncode is None
        for _ in range(2):
            with pytest.raises(ActuatorError, match=f"no lab is up in {tmp_path}"):
                await actuator.migrate("game-server", "vmhost-packard")
        assert actuator._proc is proc                     # the same process both times
        proc.kill()                                       # it dies: the next ask restarts it
        await proc.wait()
        with pytest.raises(ActuatorError, match="no lab is up"):
            await actuator.migrate("game-server", "vmhost-packard")
        assert actuator._proc is not proc
        await actuator.aclose()
        assert actuator._proc is None

    asyncio.run(go())
