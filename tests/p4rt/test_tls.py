"""P4Runtime over TLS with client certificates, both ends ours (the OVS target and the
controller's session), certificates made here by trustme: a trusted pair works; a
certificate from another CA, an expired one, or none at all gets no connection, and the
switch is unchanged."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from ctrl.control.diff import Diff
from ctrl.control.session import Backoff, SwitchSession
from ctrl.control.topology import Switch
from ctrl.errors import MobilityError
from ctrl.fastpath.stream import PuntBatch
from ctrl.p4rt.build import BuildPaths
from ctrl.p4rt.client import P4Client
from ctrl.p4rt.entity import TableEntry, insert
from ctrl.p4rt.schema import P4Schema
from ctrl.p4rt.tls import TlsError, TlsFiles
from tests.packet.ovs_target import one_bridge_server
from tests.waiting import until


def pem(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


class Pki:
    """A CA, the switch's certificate for 127.0.0.1, a controller's certificate."""

    def __init__(self, tmp: Path, tag: str = "") -> None:
        self.ca = trustme.CA()
        self.tmp = tmp
        self.cacert = pem(tmp, f"ca{tag}.pem", self.ca.cert_pem.bytes())
        self.server = self.leaf("127.0.0.1", f"switch{tag}")
        self.client = self.leaf("controller.example", f"ctrl{tag}")

    def leaf(self, identity: str, name: str, **dates: datetime.datetime) -> TlsFiles:
        leaf = self.ca.issue_cert(identity, **dates)  # type: ignore[arg-type]
        cert = pem(self.tmp, f"{name}.crt", b"".join(b.bytes() for b in leaf.cert_chain_pems))
        key = pem(self.tmp, f"{name}.key", leaf.private_key_pem.bytes())
        return TlsFiles(self.cacert, cert, key)


@pytest.fixture
def tls_switch(tmp_path: Path, schema: P4Schema) -> Iterator[tuple[str, Pki]]:
    pki = Pki(tmp_path)
    with one_bridge_server(tmp_path, schema, "tls", pki.server.server()) as address:
        yield address, pki


def fwd(mac: int) -> TableEntry:
    return TableEntry("bridging", {"vnet_id": 10, "eth_dst": mac}, "bridging.forward",
                      {"port": 1})


def _noop(name: str, batch: PuntBatch) -> None:
    return None


def test_a_trusted_controller_syncs_over_tls(tls_switch: tuple[str, Pki], schema: P4Schema,
                                             build_paths: BuildPaths) -> None:
    address, pki = tls_switch

    async def body() -> None:
        s = SwitchSession(Switch("s1", "default", 1, address), schema,
                          build_paths.json.read_bytes(), _noop, lambda: [fwd(1)],
                          backoff=Backoff(0.05, limit=0.3), credentials=pki.client.client())
        stop = asyncio.Event()
        task = asyncio.create_task(s.run(stop))
        try:
            assert await until(lambda: s.status().in_sync)
            assert await s.apply(Diff((insert(fwd(2)),), (), ())) == 1
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(body())


def test_untrusted_expired_or_no_certificates_get_no_connection(
        tls_switch: tuple[str, Pki], tmp_path: Path, schema: P4Schema) -> None:
    address, pki = tls_switch
    other = Pki(tmp_path, "-other")
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    expired = pki.leaf("controller.example", "expired", not_before=past,
                       not_after=past + datetime.timedelta(days=1))
    cases = {
        "a certificate another CA signed": TlsFiles(pki.cacert, other.client.cert,
                                                    other.client.key),
        "a switch certificate nobody trusts": TlsFiles(other.cacert, pki.client.cert,
                                                       pki.client.key),
        "an expired certificate": expired,
        "no certificate": TlsFiles(pki.cacert),
    }

    async def body() -> None:
        for why, files in cases.items():
            client = P4Client(address, 1, credentials=files.client())
            with pytest.raises(MobilityError):
                await client.open(timeout=3)
            assert not client.is_open, why
        # The switch took nothing from any of them: a trusted client finds it empty.
        async with P4Client(address, 1, credentials=pki.client.client()) as ok:
            assert ok.is_primary and await ok.get_pipeline() is None

    asyncio.run(body())


def test_tls_options_are_checked_before_anything_connects(tmp_path: Path) -> None:
    with pytest.raises(TlsError, match="cannot read the CA certificate"):
        TlsFiles(tmp_path / "nope.pem").client()
    with pytest.raises(TlsError, match="needs --cert and --private-key"):
        TlsFiles(tmp_path / "nope.pem").server()
