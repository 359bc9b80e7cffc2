"""The REST API's guard on writes: a bearer token, or a client certificate over HTTPS,
against the real server on loopback; reads stay open; a refused write changes nothing;
`ctrl serve` will not open writes to a public address."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from ctrl.cli import main
from ctrl.control.runner import Controller
from ctrl.control.topology import parse_topology
from ctrl.northbound.api import make_app
from ctrl.northbound.auth import ApiAuth, AuthError, read_token, server_context
from ctrl.northbound.client import ApiError, ClientAuth, PreparedCall, call
from ctrl.p4rt.schema import P4Schema
from ctrl.targets.bmv2 import free_tcp_port
from tests.topologies import TOPO, VMS

TOKEN = "s3cret-token-for-tests"


def served(controller: Controller, auth: ApiAuth, context: ssl.SSLContext | None = None
           ) -> Iterator[str]:
    loop = asyncio.new_event_loop()
    port = free_tcp_port()
    runner = web.AppRunner(make_app(controller, None, auth))
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if context else 'http'}://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(runner.cleanup())
        loop.close()


@pytest.fixture
def controller(schema: P4Schema) -> Controller:
    return Controller(parse_topology(TOPO + VMS), schema, b"{}")


@pytest.fixture
def with_token(controller: Controller) -> Iterator[str]:
    yield from served(controller, ApiAuth(TOKEN))


def test_writes_need_the_token_reads_do_not(with_token: str, controller: Controller) -> None:
    assert isinstance(call(with_token, "hosts"), list)
    for auth in (ClientAuth(), ClientAuth("wrong-token-wrong-token")):
        with pytest.raises(ApiError, match=r"401: .*Bearer") as exc:
            call(with_token, "migrate", {"vm": "vm2", "to": "h4"}, auth=auth)
        assert exc.value.status == 401
        prepared = PreparedCall(with_token, "migrate/vm2", None, "DELETE", auth=auth)
        prepared.send()
        with pytest.raises(ApiError, match="401"):
            prepared.answer()
    assert len(controller.core.migrations) == 0          # nothing changed
    reply = call(with_token, "migrate", {"vm": "vm2", "to": "h4"}, auth=ClientAuth(TOKEN))
    assert isinstance(reply, dict) and reply["to"] == "s4:3"


def test_a_client_certificate_over_https_authorizes_writes(tmp_path: Path,
                                                           controller: Controller) -> None:
    ca = trustme.CA()
    files = {}
    for name, identity in (("server", "127.0.0.1"), ("client", "operator.example")):
        leaf = ca.issue_cert(identity)
        (tmp_path / f"{name}.crt").write_bytes(b"".join(p.bytes() for p in leaf.cert_chain_pems))
        (tmp_path / f"{name}.key").write_bytes(leaf.private_key_pem.bytes())
        files[name] = (str(tmp_path / f"{name}.crt"), str(tmp_path / f"{name}.key"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    context = server_context(Path(files["server"][0]), Path(files["server"][1]),
                             tmp_path / "ca.pem")
    for address in served(controller, ApiAuth(client_certs=True), context):
        anonymous = ClientAuth(cacert=str(tmp_path / "ca.pem"))
        assert isinstance(call(address, "hosts", auth=anonymous), list)
        with pytest.raises(ApiError, match="401"):
            call(address, "migrate", {"vm": "vm1", "to": "h4"}, auth=anonymous)
        operator = ClientAuth(cacert=str(tmp_path / "ca.pem"), cert=files["client"][0],
                              key=files["client"][1])
        reply = call(address, "migrate", {"vm": "vm1", "to": "h4"}, auth=operator)
        assert isinstance(reply, dict) and reply["to"] == "s4:3"
        with pytest.raises(ApiError, match="cannot reach"):   # an API it cannot trust
            call(address, "hosts")


def test_serve_refuses_open_writes_on_a_public_address(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    topo = tmp_path / "t.yaml"
    topo.write_text(TOPO)
    assert main(["serve", "--topology", str(topo), "--api", "0.0.0.0:18099"]) == 2
    assert "writes open to anyone" in capsys.readouterr().err
    short = tmp_path / "token"
    short.write_text("short\n")
    with pytest.raises(AuthError, match="16 or more"):
        read_token(short)
    assert main(["serve", "--topology", str(topo), "--api-cacert", str(short)]) == 2
    assert "needs --api-cert" in capsys.readouterr().err
