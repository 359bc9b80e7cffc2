"""How the engine's migrations are carried out: through the one migration path there is.

The engine never moves the network first: an actuator migrates the VM as an operator
would, announced with `"cause": "placement"` (the controller readies the new place and
delivers at both; the VM's RARP, or its pause at the source, completes it).

- `LibvirtActuator`: libvirt live-migrates the domain (`ctrl serve --libvirt ...`), the
  network readied first (ctrl/northbound/hypervisors.py).
- `LabActuator`: the lab moves its guest (a namespace, or a QEMU guest live-migrated),
  as `ctrl lab migrate VM --to HYPERVISOR --cause placement` does, in a process of its
  own kept for it (ctrl/lab/mover.py; `ctrl lab up` starts the controller with
  `--placement-actuator lab:STATE_DIR`).

A migration that did not happen raises ActuatorError saying why; the engine backs off
from that hypervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import Protocol

from ctrl.errors import MobilityError
from ctrl.northbound.hypervisors import Hypervisors

log = logging.getLogger(__name__)

CAUSE = "placement"


class ActuatorError(MobilityError, RuntimeError):
    """A migration the engine asked for did not happen; the message says why."""


class Actuator(Protocol):
    name: str

    async def prepare(self) -> None:
        """Get ready (before the first migration)."""

    async def migrate(self, vm: str, to: str) -> str:
        """Migrate `vm` to hypervisor `to`; what happened, in a line (ActuatorError if it
        did not)."""
        ...

    async def aclose(self) -> None:
        """Let go of what `prepare` took."""


class LibvirtActuator:
    name = "libvirt"

    def __init__(self, hypervisors: Hypervisors) -> None:
        self.hypervisors = hypervisors

    async def prepare(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    async def migrate(self, vm: str, to: str) -> str:
        try:
            done = await self.hypervisors.migrate(vm, to, CAUSE)
        except MobilityError as exc:
            raise ActuatorError(str(exc)) from exc
        return (f"libvirt migrated {vm} (domain {done.domain}) {done.src} -> {done.dst}: "
                f"downtime {done.downtime_ms} ms, total {done.total_ms} ms")


class LabActuator:
    """The lab's migrations, asked of `ctrl lab --state-dir DIR mover` (ctrl/lab/mover.py):
    one process started at the first need (or `prepare`) and kept, one migration at a
    time; started again if it died."""

    name = "lab"

    def __init__(self, state_dir: Path, timeout: float = 180.0) -> None:
        self.state_dir = state_dir
        self.timeout = timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "ctrl.cli", "lab", "--state-dir", str(self.state_dir),
                "mover"]

    async def prepare(self) -> None:
        """Start the mover now, so that the first migration does not wait for it."""
        async with self._lock:
            await self._started()

    async def _started(self) -> asyncio.subprocess.Process:
        if self._proc is None or self._proc.returncode is not None:
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    *self.argv(), stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE)
            except OSError as exc:
                raise ActuatorError(f"cannot run the lab's mover: {exc.strerror}") from exc
            log.info("the lab's mover runs (pid %d): %s", self._proc.pid,
                     " ".join(self.argv()))
        return self._proc

    async def migrate(self, vm: str, to: str) -> str:
        async with self._lock:
            proc = await self._started()
            assert proc.stdin is not None and proc.stdout is not None
            request = json.dumps({"vm": vm, "to": to, "cause": CAUSE}) + "\n"
            try:
                proc.stdin.write(request.encode())
                await proc.stdin.drain()
                raw = await asyncio.wait_for(proc.stdout.readline(), self.timeout)
            except (OSError, TimeoutError, asyncio.CancelledError) as exc:
                await self._stop()
                if isinstance(exc, asyncio.CancelledError):
                    raise
                why = str(exc) or f"no answer in {self.timeout:.0f} s"
                raise ActuatorError(f"the lab's mover did not migrate {vm} to {to}: {why}"
                                    ) from None
            try:
                reply = json.loads(raw)
            except ValueError:
                await self._stop()
                raise ActuatorError(f"the lab's mover ended (migrating {vm} to {to})"
                                    ) from None
        if not reply.get("ok"):
            raise ActuatorError(str(reply.get("error")))
        return str(reply.get("line"))

    async def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    async def aclose(self) -> None:
        """End the mover (its input closed: it stops after the migration under way)."""
        async with self._lock:
            proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
