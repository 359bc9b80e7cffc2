"""The lab's long-lived processes: started detached, found again by PID, stopped by PID only.

A process outlives the `ctrl lab up` that started it, so it is remembered by
its PID and its start time (field 22 of /proc/PID/stat): a PID that the kernel
has given to another process since is never signalled.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ctrl.lab.spec import LabError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Proc:
    name: str
    pid: int
    start: int          # start time in clock ticks since boot: the PID's identity
    argv: tuple[str, ...]
    log: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, object]) -> Proc:
        argv = d["argv"]
        assert isinstance(argv, (list, tuple))
        return cls(str(d["name"]), int(str(d["pid"])), int(str(d["start"])),
                   tuple(str(a) for a in argv), str(d["log"]))


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time) of a process, None when there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
    return fields[0], int(fields[19])


def is_running(p: Proc) -> bool:
    """The very process we started is alive (not a zombie, not a new owner of its PID)."""
    st = _stat(p.pid)
    return st is not None and st[1] == p.start and st[0] != "Z"


def spawn(name: str, argv: Sequence[str], log_file: Path, *, ns: str | None = None,
          env: dict[str, str] | None = None) -> Proc:
    """Start `argv` detached (its own session, output to `log_file`), in namespace `ns`."""
    full = ["ip", "netns", "exec", ns, *argv] if ns else list(argv)
    with log_file.open("ab") as out:
        try:
            child = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env=env)
        except OSError as exc:
            raise LabError(f"cannot start {name} ({full[0]}): {exc.strerror}") from exc
    st = _stat(child.pid)
    if st is None:
        raise LabError(f"{name} exited at once; see {log_file}")
    log.info("started %s (pid %d): %s", name, child.pid, " ".join(full))
    # Not waited for by Popen: `stop` reaps it when this process is still its parent.
    child.returncode = 0
    return Proc(name, child.pid, st[1], tuple(full), str(log_file))


def wait_until(ready: Callable[[], bool], proc: Proc, timeout: float, what: str,
               interval: float = 0.1) -> None:
    """Poll `ready` every `interval` s until it holds; fail early, pointing at the log,
    if `proc` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if not is_running(proc):
            raise LabError(f"{proc.name} exited while {what}; its log: {proc.log}\n"
                           f"{_tail(Path(proc.log))}")
        time.sleep(interval)
    raise LabError(f"{proc.name}: not {what} after {timeout:.0f} s; its log: {proc.log}\n"
                   f"{_tail(Path(proc.log))}")


def last_error(p: Proc) -> str:
    """The last line of `p`'s log that reports an error (`ctrl: error: why`), or ""."""
    try:
        lines = Path(p.log).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return next((line.strip().removeprefix("ctrl: error: ") for line in reversed(lines)
                 if line.startswith("ctrl: error: ")), "")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


TICKS = os.sysconf("SC_CLK_TCK")   # /proc/PID/stat's clock: ticks a second


def kill(p: Proc, timeout: float = 5.0) -> None:
    """SIGKILL (a crash) to exactly this process, and wait until it is gone."""
    if is_running(p):
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while is_running(p):
        _reap(p.pid)
        if time.monotonic() > deadline:
            raise LabError(f"{p.name} (pid {p.pid}) survived SIGKILL for {timeout:.0f} s")
        time.sleep(0.01)
    _reap(p.pid)


def stop(p: Proc, timeout: float = 10.0) -> bool:
    """SIGINT (a clean stop, as Ctrl-C), then SIGTERM, then SIGKILL, to exactly this
    process; True when it had to be stopped, False when it was gone already."""
    if not is_running(p):
        _reap(p.pid)
        return False
    for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        if not is_running(p):
            break
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(p.pid)
            if not is_running(p):
                break
            time.sleep(0.05)
    _reap(p.pid)
    if is_running(p):
        raise LabError(f"{p.name} (pid {p.pid}) did not stop")
    return True
