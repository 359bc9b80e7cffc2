"""What `ctrl lab down` finds left: a process that names the lab's state directory is
found; the process asking, and whatever runs it (a shell, `timeout`), are not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ctrl.lab.leftovers import processes_naming


def test_a_process_naming_the_state_dir_is_found_but_not_the_asker_nor_its_parents(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    other = subprocess.Popen(["sh", "-c", f"sleep 30; : {state}"])
    try:
        ask = (f"from pathlib import Path; from ctrl.lab.leftovers import processes_naming; "
               f"print(processes_naming(Path({str(state)!r})))")
        # The asker runs under a shell whose own command line names the directory.
        out = subprocess.run(["sh", "-c", f'"{sys.executable}" -c "{ask}"; : {state}'],
                             capture_output=True, text=True, check=True, timeout=60).stdout
        assert f"pid {other.pid}:" in out
        assert out.count("pid ") == 1, out
    finally:
        other.kill()
        other.wait()
    assert processes_naming(state) == []
