"""A small blocking QMP client (the QEMU Machine Protocol: JSON objects, one a line, over
a unix socket): the greeting, `qmp_capabilities`, then commands matched to their
replies by id; events that arrive in between are kept, in order, for the caller.
"""

from __future__ import annotations

import json
import logging
import select
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ctrl.vm.errors import QmpError

log = logging.getLogger(__name__)

MAX_LINE = 1 << 20   # no reply of the commands used here comes near it


@dataclass(frozen=True, slots=True)
class QmpEvent:
    name: str                                   # e.g. "RESUME", "MIGRATION", "STOP"
    data: Mapping[str, object] = field(default_factory=dict)
    timestamp: float = 0.0                      # QEMU's own clock, seconds since the epoch


def decode(line: bytes) -> dict[str, object]:
    """One QMP message; a QmpError for anything but a JSON object."""
    try:
        msg = json.loads(line)
    except ValueError as exc:
        raise QmpError(f"QMP: not JSON: {line[:200]!r}") from exc
    if not isinstance(msg, dict):
        raise QmpError(f"QMP: not a JSON object: {line[:200]!r}")
    return msg


def event_of(msg: Mapping[str, object]) -> QmpEvent | None:
    """The event a message is, None for a reply or a greeting."""
    name = msg.get("event")
    if not isinstance(name, str):
        return None
    data = msg.get("data")
    stamp = msg.get("timestamp")
    when = 0.0
    if isinstance(stamp, dict):
        when = float(stamp.get("seconds", 0)) + float(stamp.get("microseconds", 0)) / 1e6
    return QmpEvent(name, data if isinstance(data, dict) else {}, when)


def reply_of(msg: Mapping[str, object], want_id: int) -> tuple[bool, object] | None:
    """(True, value) for the reply to command `want_id`, (False, error) for its error
    reply, None for any other message."""
    if msg.get("id") != want_id:
        return None
    if "return" in msg:
        return True, msg["return"]
    if "error" in msg:
        return False, msg["error"]
    raise QmpError(f"QMP: a reply with neither return nor error: {dict(msg)}")


class Qmp:
    """One QMP session; `with Qmp.connect(path) as qmp: qmp.execute("query-status")`.
    `on_event`, if set, is called with each event as it is read, even while a command
    waits for its reply (QEMU answers no command during a migration's stop-and-copy,
    but says STOP at once)."""

    def __init__(self, sock: socket.socket, name: str = "qemu") -> None:
        self.sock = sock
        self.name = name
        self.events: list[QmpEvent] = []
        self.on_event: Callable[[QmpEvent], None] | None = None
        self._buf = b""
        self._next_id = 1
        greeting = self._read(sock.gettimeout() or 10.0)
        if "QMP" not in greeting:
            raise QmpError(f"{name}: QMP: no greeting but {greeting}")
        self.execute("qmp_capabilities")

    @classmethod
    def connect(cls, path: Path, timeout: float = 10.0, name: str = "qemu",
                alive: Callable[[], bool] | None = None) -> Qmp:
        """Connect to QEMU's `-qmp unix:PATH,server=on,wait=off`, waiting up to `timeout`
        for the socket to appear; `alive` says whether QEMU still runs (stop waiting
        when it does not)."""
        deadline = time.monotonic() + timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(str(path))
                return cls(sock, name)
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                sock.close()
                if time.monotonic() > deadline or (alive is not None and not alive()):
                    raise QmpError(f"{name}: no QMP at {path}: {exc.strerror}") from None
                time.sleep(0.02)
            except BaseException:
                sock.close()
                raise

    def __enter__(self) -> Qmp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def execute(self, command: str, arguments: Mapping[str, object] | None = None,
                timeout: float = 10.0) -> object:
        """The value QEMU returns for `command`; a QmpError with QEMU's error class and
        description when it answers with an error."""
        cmd_id = self._next_id
        self._next_id += 1
        msg: dict[str, object] = {"execute": command, "id": cmd_id}
        if arguments:
            msg["arguments"] = dict(arguments)
        try:
            self.sock.sendall(json.dumps(msg).encode() + b"\n")
        except OSError as exc:
            raise QmpError(f"{self.name}: QMP {command}: {exc}") from exc
        deadline = time.monotonic() + timeout
        while True:
            got = self._read(deadline - time.monotonic())
            reply = reply_of(got, cmd_id)
            if reply is None:
                event = event_of(got)
                if event is not None:
                    self.events.append(event)
                    self._tell(event)
                continue
            ok, value = reply
            if ok:
                return value
            err = value if isinstance(value, dict) else {}
            raise QmpError(f"{self.name}: QMP {command}: {err.get('desc', value)}",
                           str(err.get("class", "")))

    def _tell(self, event: QmpEvent) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:   # a callback's bug must not end the session
            log.exception("%s: QMP event callback failed on %s", self.name, event.name)

    def pump(self, timeout: float) -> None:
        """Read what QEMU says for `timeout` seconds, between commands: its events, kept
        and told as they come (instead of when the next command is answered)."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._buf:
                line, _, self._buf = self._buf.partition(b"\n")
                event = event_of(decode(line))
                if event is not None:
                    self.events.append(event)
                    self._tell(event)
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                return
            try:
                chunk = self.sock.recv(65536)
            except OSError as exc:
                raise QmpError(f"{self.name}: QMP: {exc}") from exc
            if not chunk:
                raise QmpError(f"{self.name}: QMP: QEMU closed the connection")
            self._buf += chunk

    def take_events(self, name: str | None = None) -> list[QmpEvent]:
        """The events kept so far (only those called `name`), forgetting them."""
        taken = [e for e in self.events if name is None or e.name == name]
        self.events = [e for e in self.events if name is not None and e.name != name]
        return taken

    def _read(self, timeout: float) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise QmpError(f"{self.name}: QMP: no answer in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise QmpError(f"{self.name}: QMP: no answer in time") from None
            except OSError as exc:
                raise QmpError(f"{self.name}: QMP: {exc}") from exc
            if not chunk:
                raise QmpError(f"{self.name}: QMP: QEMU closed the connection")
            self._buf += chunk
            if len(self._buf) > MAX_LINE:
                raise QmpError(f"{self.name}: QMP: a line longer than {MAX_LINE} bytes")
        line, _, self._buf = self._buf.partition(b"\n")
        return decode(line)
