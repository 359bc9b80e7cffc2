"""The lab's processes: found again by PID and start time, stopped by PID only."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ctrl.lab import procs
from ctrl.lab.spec import LabError


def test_spawn_then_stop_exactly_that_process(tmp_path: Path) -> None:
    p = procs.spawn("sleeper", ["sleep", "60"], tmp_path / "sleep.log")
    try:
        assert procs.is_running(p)
        again = procs.Proc.from_json(p.to_json())
        assert again == p
        # The same PID with another start time is another process: never touched.
        impostor = procs.Proc("x", p.pid, p.start + 1, (), "")
        assert not procs.is_running(impostor)
        assert procs.stop(impostor) is False
        assert procs.is_running(p)
    finally:
        assert procs.stop(p) is True
    assert not procs.is_running(p)
    assert procs.stop(p) is False


def test_a_process_that_ignores_sigint_is_terminated(tmp_path: Path) -> None:
    code = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(60)"
    p = procs.spawn("stubborn", [sys.executable, "-c", code], tmp_path / "s.log")
    assert procs.stop(p, timeout=0.5) is True
    assert not procs.is_running(p)


def test_waiting_for_a_process_that_dies_shows_its_log(tmp_path: Path) -> None:
    p = procs.spawn("dies", [sys.executable, "-c", "print('no such thing'); raise SystemExit(3)"],
                    tmp_path / "d.log")
    with pytest.raises(LabError, match=r"(?s)dies exited while listening.*no such thing"):
        procs.wait_until(lambda: False, p, 10, "listening")
    with pytest.raises(LabError, match="cannot start x"):
        procs.spawn("x", ["/nonexistent/binary"], tmp_path / "x.log")
