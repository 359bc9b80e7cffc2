from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ctrl.ha.etcdproc import EtcdProcess, find_etcd

needs_etcd = pytest.mark.skipif(find_etcd() is None,
                                reason="etcd is not installed (apt-get install etcd-server)")


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[EtcdProcess]:
    """A single-member etcd of the test's own: data under tmp_path, loopback ports."""
    if find_etcd() is None:
        pytest.skip("etcd is not installed (apt-get install etcd-server)")
    with EtcdProcess(tmp_path / "etcd") as proc:
        yield proc
