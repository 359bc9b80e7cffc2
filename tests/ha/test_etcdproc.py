from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ctrl.ha.etcdproc import PORT_TAKEN, EtcdProcess, find_etcd, free_ports, lost_its_port

needs_etcd = pytest.mark.skipif(find_etcd() is None,
                                reason="etcd is not installed (apt-get install etcd-server)")


def test_etcd_answers_and_stops_by_pid(etcd: EtcdProcess) -> None:
    assert etcd.healthy()
    pid = etcd.pid
    assert pid is not None
    assert Path(f"/proc/{pid}").exists()
    etcd.stop()
    assert not etcd.healthy()
    assert not Path(f"/proc/{pid}/status").exists() or "zombie" in Path(
        f"/proc/{pid}/status").read_text()


@needs_etcd
def test_a_port_taken_before_etcd_listens_is_left_for_others(tmp_path: Path) -> None:
    with socket.socket() as taken:   # a socket of ours on the port etcd was given
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        etcd = EtcdProcess(tmp_path / "etcd", client_port=port)
        try:
            etcd.start()
            assert etcd.healthy() and etcd.client_port != port
            assert etcd.log.read_text().count(PORT_TAKEN) == 1
        finally:
            etcd.stop()


def test_ports_picked_together_differ_and_the_log_is_read_from_where_asked(
        tmp_path: Path) -> None:
    for _ in range(200):
        a, b = free_ports(2)
        assert a != b
    log = tmp_path / "etcd.log"
    log.write_text(f"listen tcp 127.0.0.1:1: {PORT_TAKEN}\n")
    since = log.stat().st_size
    assert lost_its_port(log, 0) and not lost_its_port(log, since)
    with log.open("a") as f:
        f.write("etcdmain: listening for client requests\n")
    assert not lost_its_port(log, since)
    assert not lost_its_port(tmp_path / "none.log", 0)
