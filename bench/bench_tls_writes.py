"""P4Runtime writes over TLS (mutual, certificates made by trustme) against plaintext, in
the same run: P4Client writing 10,000 bridging entries in batches of 1,000 to two Open
vSwitch targets alike but for TLS. Goal (issue 14): TLS >= 80 % of plaintext."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from bench.conftest import RATIOS, Progress
from ctrl.p4rt.build import BuildPaths
from ctrl.p4rt.client import P4Client
from ctrl.p4rt.entity import TableEntry, insert
from ctrl.p4rt.schema import P4Schema
from ctrl.p4rt.tls import TlsFiles
from tests.packet.ovs_target import one_bridge_server

N, BATCH = 10_000, 1_000
TITLE = f"P4Client writes of {N:,} entries, batches of {BATCH:,}: TLS against plaintext"
RATES: dict[str, float] = {}


def _pair(ca: trustme.CA, tmp: Path, name: str, identity: str) -> tuple[Path, Path]:
    leaf = ca.issue_cert(identity)
    cert, key = tmp / f"{name}.crt", tmp / f"{name}.key"
    cert.write_bytes(b"".join(p.bytes() for p in leaf.cert_chain_pems))
    key.write_bytes(leaf.private_key_pem.bytes())
    return cert, key


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, schema: P4Schema
            ) -> Iterator[dict[str, tuple[str, TlsFiles | None]]]:
    tmp = tmp_path_factory.mktemp("tlsbench")
    ca = trustme.CA()
    cacert = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(cacert))
    server = TlsFiles(cacert, *_pair(ca, tmp, "switch", "127.0.0.1"))
    client = TlsFiles(cacert, *_pair(ca, tmp, "ctrl", "controller.example"))
    with one_bridge_server(tmp / "plain", schema, "bp") as plain, \
            one_bridge_server(tmp / "tls", schema, "bt", server.server()) as secure:
        yield {"plaintext": (plain, None), "TLS": (secure, client)}


@pytest.mark.parametrize("mode", ["plaintext", "TLS"])
def test_writes(benchmark: Any, servers: dict[str, tuple[str, TlsFiles | None]], mode: str,
                schema: P4Schema, build_paths: BuildPaths, progress: Progress) -> None:
    address, files = servers[mode]
    updates = [insert(TableEntry("bridging", {"vnet_id": 1 + i % 4000,
                                              "eth_dst": 0x020000000000 + i},
                                 "bridging.forward", {"port": 1 + i % 8})) for i in range(N)]
    runner = asyncio.Runner()
    client = P4Client(address, 1, credentials=None if files is None else files.client())
    runner.run(client.open())

    async def write_all() -> None:
        for i in range(0, N, BATCH):
            await client.write(updates[i:i + BATCH])

    try:
        benchmark.pedantic(lambda: runner.run(write_all()), rounds=4, iterations=1,
                           setup=progress.rounds(4, f"{N:,} entries, round",
                                                 lambda: runner.run(client.set_pipeline(
                                                     schema, build_paths.json.read_bytes()))))
    finally:
        runner.run(client.close())
        runner.close()
    rounds = [N / t for t in benchmark.stats.stats.data]
    RATES[mode] = statistics.median(rounds)
    line = (f"  {mode:<10} {RATES[mode]:>9,.0f} entries/s  (rounds {min(rounds):,.0f}-"
            f"{max(rounds):,.0f})")
    if mode == "TLS" and "plaintext" in RATES:
        line += f"; {RATES['TLS'] / RATES['plaintext']:.0%} of plaintext (goal >= 80 %)"
    RATIOS.setdefault(TITLE, []).append(line)
