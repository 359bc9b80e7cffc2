from __future__ import annotations

from pathlib import Path

from ctrl.ha.etcdproc import EtcdProcess


def test_etcd_answers_and_stops_by_pid(etcd: EtcdProcess) -> None:
    assert etcd.healthy()
    pid = etcd.pid
    assert pid is not None
    assert Path(f"/proc/{pid}").exists()
    etcd.stop()
    assert not etcd.healthy()
    assert not Path(f"/proc/{pid}/status").exists() or "zombie" in Path(
        f"/proc/{pid}/status").read_text()
