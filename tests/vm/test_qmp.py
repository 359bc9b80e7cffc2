"""ctrl.vm.qmp against a scripted QMP peer on a socket pair: greeting, capabilities,
replies matched by id, events kept, errors with QEMU's class."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ctrl.vm.errors import QmpError
from ctrl.vm.qmp import Qmp, decode, event_of, reply_of

GREETING = {"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}},
                    "capabilities": ["oob"]}}
Answer = Callable[[dict[str, object]], list[dict[str, object]]]


def fake_qemu(sock: socket.socket, answer: Answer) -> None:
    """Greets, then answers each command line with what `answer` gives."""
    with sock, sock.makefile("rwb") as f:
        f.write(json.dumps(GREETING).encode() + b"\n")
        f.flush()
        for line in f:
            for msg in answer(json.loads(line)):
                f.write(json.dumps(msg).encode() + b"\r\n")
            f.flush()


@pytest.fixture
def qmp_with() -> Iterator[Callable[[Answer], Qmp]]:
    made: list[tuple[Qmp, threading.Thread]] = []

    def make(answer: Answer) -> Qmp:
        ours, theirs = socket.socketpair()
        ours.settimeout(5)
        t = threading.Thread(target=fake_qemu, args=(theirs, answer), daemon=True)
        t.start()
        q = Qmp(ours, "fake")
        made.append((q, t))
        return q

    yield make
    for q, t in made:
        q.close()
        t.join(5)


def status_server(cmd: dict[str, object]) -> list[dict[str, object]]:
    cid = cmd.get("id")
    if cmd["execute"] == "qmp_capabilities":
        return [{"return": {}, "id": cid}]
    if cmd["execute"] == "query-status":
        return [{"event": "RESUME", "data": {},
                 "timestamp": {"seconds": 10, "microseconds": 500000}},
                {"return": {"status": "running", "running": True}, "id": cid}]
    return [{"error": {"class": "CommandNotFound",
                       "desc": f"The command {cmd['execute']} has not been found"},
             "id": cid}]


def test_commands_get_their_replies_and_events_are_kept(
        qmp_with: Callable[[Answer], Qmp]) -> None:
    q = qmp_with(status_server)
    assert q.execute("query-status") == {"status": "running", "running": True}
    assert [e.name for e in q.events] == ["RESUME"]
    assert q.events[0].timestamp == 10.5
    assert [e.name for e in q.take_events("RESUME")] == ["RESUME"] and q.events == []


def test_events_are_told_as_they_come_while_a_command_waits(
        qmp_with: Callable[[Answer], Qmp]) -> None:
    q = qmp_with(status_server)
    told: list[tuple[str, bool]] = []
    q.on_event = lambda e: told.append((e.name, q.events[-1] is e))
    q.execute("query-status")
    assert told == [("RESUME", True)]

    def broken(_: object) -> None:
        raise RuntimeError("a bug in a callback")

    q.on_event = broken
    assert q.execute("query-status") == {"status": "running", "running": True}


def test_pumping_between_commands_tells_events_at_once() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(json.dumps(GREETING).encode() + b"\n")
        capabilities = threading.Thread(target=lambda: theirs.sendall(
            theirs.recv(4096) and b'{"return": {}, "id": 1}\n'))
        capabilities.start()
        q = Qmp(ours, "fake")
        capabilities.join()
        told: list[str] = []
        q.on_event = lambda e: told.append(e.name)
        q.pump(0.05)                        # nothing said: back after the timeout
        assert told == []
        theirs.sendall(b'{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 0}}'
                       b'\r\n{"event": "RESUME", "timestamp"')
        q.pump(0.2)
        assert told == ["STOP"]             # the half line waits for the rest
        theirs.sendall(b': {"seconds": 2, "microseconds": 0}}\n')
        q.pump(0.2)
        assert told == ["STOP", "RESUME"] and [e.timestamp for e in q.events] == [1.0, 2.0]
        theirs.close()
        with pytest.raises(QmpError, match="closed the connection"):
            q.pump(1.0)


def test_an_error_reply_carries_qemus_class(qmp_with: Callable[[Answer], Qmp]) -> None:
    q = qmp_with(status_server)
    with pytest.raises(QmpError, match="has not been found") as err:
        q.execute("no-such-command")
    assert err.value.error_class == "CommandNotFound"


def test_a_closed_or_silent_peer_is_an_error(qmp_with: Callable[[Answer], Qmp]) -> None:
    def silent(cmd: dict[str, object]) -> list[dict[str, object]]:
        return [{"return": {}, "id": cmd["id"]}] if cmd["execute"] == "qmp_capabilities" \
            else []
    q = qmp_with(silent)
    with pytest.raises(QmpError, match="no answer in time"):
        q.execute("query-status", timeout=0.2)


def test_messages_are_told_apart() -> None:
    assert decode(b'{"return": {}, "id": 3}') == {"return": {}, "id": 3}
    with pytest.raises(QmpError, match="not JSON"):
        decode(b"{oops")
    with pytest.raises(QmpError, match="not a JSON object"):
        decode(b"[1]")
    assert reply_of({"return": 1, "id": 3}, 3) == (True, 1)
    assert reply_of({"error": {"class": "X"}, "id": 3}, 3) == (False, {"class": "X"})
    assert reply_of({"return": 1, "id": 2}, 3) is None
    ev = event_of({"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 0}})
    assert ev is not None and ev.name == "STOP" and ev.data == {}
    assert event_of({"return": {}}) is None


def test_connect_gives_up_on_a_socket_that_never_comes(tmp_path: Path) -> None:
    with pytest.raises(QmpError, match="no QMP at"):
        Qmp.connect(tmp_path / "none.qmp", timeout=0.1)
    with pytest.raises(QmpError, match="no QMP at"):
        Qmp.connect(tmp_path / "none.qmp", timeout=10, alive=lambda: False)
