"""The service around the engine, on a controller whose switches are not connected: the
rounds turn counter readings into decisions, migrations go to the actuator and come back,
notices are published; the API and /metrics show it all; bad requests change nothing.
The switches' readings here are made up from the planner's own entries (the live test,
test_service_live.py, reads real ones)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from ctrl.cli import main
from ctrl.control.notices import PlacementNotice
from ctrl.control.planner import PlacedVM
from ctrl.control.runner import Controller
from ctrl.control.topology import Topology
from ctrl.errors import MobilityError
from ctrl.lab.cli import read_topology
from ctrl.lab.roamreport import about, said, under_way
from ctrl.lab.spec import parse_lab
from ctrl.northbound.api import make_app
from ctrl.p4rt.schema import P4Schema
from ctrl.p4rt.values import to_int
from ctrl.placement.api import install
from ctrl.placement.engine import Limits, PlacementEngine, Verdict
from ctrl.placement.follow import FollowClients
from ctrl.placement.pack import Pack
from ctrl.placement.policy import PolicyStore, from_topology
from ctrl.placement.service import PlacementService, targets_of
from ctrl.placement.traffic import Count, HostKey


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """An actuator that records what it is asked, and fails when told to; otherwise it
    has the controller go through an announced migration as the lab's would (announce,
    then the switch-over in the VM's pause), its switches not connected."""

    name = "recorder"

    def __init__(self, c: Controller) -> None:
        self.c = c
        self.asked: list[tuple[str, str]] = []
        self.fail: str | None = None
        self.closed = False

    async def prepare(self) -> None:
        pass

    async def migrate(self, vm: str, to: str) -> str:
        self.asked.append((vm, to))
        if self.fail is not None:
            raise MobilityError(self.fail)
        await self.c.announce(vm, to, "placement")
        await self.c.switch_over(vm)
        return f"{vm} moved to {to}"

    async def aclose(self) -> None:
        self.closed = True


def campus() -> Topology:
    text, origin = read_topology("stanford")
    return parse_lab(text, origin).topology


class Readings:
    """Counters as the switches would show them: the planner's entries toward the game
    server where the controller has it, packets entering where they are told to."""

    def __init__(self, c: Controller) -> None:
        self.c = c
        self.total: dict[str, int] = dict.fromkeys(c.topo.switches, 0)
        self.key: HostKey = (1, to_int("02:00:00:00:01:01"))

    def send(self, entered: Mapping[str, int]) -> None:
        host = self.c.core.tracker.get(*self.key)
        vm = PlacedVM(host.vnet, host.mac, host.ip, host.location)
        for start, n in entered.items():
            sw: str | None = start
            while sw is not None:
                self.total[sw] += n
                e = self.c.planner.toward(sw, vm)
                assert e is not None
                nxt = self.c.planner.next_hops(host.location.switch).get(sw)
                sw = nxt if sw != host.location.switch else None

    async def read(self) -> dict[str, Mapping[HostKey, Count]]:
        host = self.c.core.tracker.get(*self.key)
        vm = PlacedVM(host.vnet, host.mac, host.ip, host.location)
        out: dict[str, Mapping[HostKey, Count]] = {}
        for sw in self.c.topo.switches:
            e = self.c.planner.toward(sw, vm)
            assert e is not None
            out[sw] = {self.key: Count(e.action.rpartition(".")[2],
                                       to_int(next(iter(e.params.values()), 0)),
                                       100 * self.total[sw], self.total[sw])}
        return out


Body = Callable[[TestClient[Any, Any], PlacementService, Readings, Clock, Recorder],
                Awaitable[None]]


def run(schema: P4Schema, tmp_path: Path, body: Body) -> None:
    async def go() -> None:
        clock = Clock()
        c = Controller(campus(), schema, b"{}", clock=clock)
        recorder = Recorder(c)
        engine = PlacementEngine([FollowClients(), Pack()], targets_of(c), Limits())
        service = PlacementService(c, engine, recorder, store=PolicyStore(
            tmp_path / "placement.json"))
        service.load(from_topology(c.topo))
        readings = Readings(c)
        service._read = readings.read  # type: ignore[method-assign]
        app = make_app(c)
        install(app, service)
        async with TestClient(TestServer(app)) as client:
            await body(client, service, readings, clock, recorder)

    asyncio.run(go())


async def tick(service: PlacementService, clock: Clock, seconds: float = 1.0) -> list[Any]:
    clock.now += seconds
    decisions = await service.round()
    for task in list(service._tasks.values()):
        await task
    return decisions


def test_rounds_follow_the_clients_through_the_actuator(schema: P4Schema,
                                                        tmp_path: Path) -> None:
    async def body(client: TestClient[Any, Any], s: PlacementService, r: Readings,
                   clock: Clock, rec: Recorder) -> None:
        sub = s.c.feed.subscribe()
        await tick(s, clock)                       # the first reading: no interval yet
        for _ in range(3):
            r.send({"g-2": 50, "p-core": 50})     # the phone at Gates, the laptop at Packard
            got = await tick(s, clock)
        assert got[0].verdict is Verdict.STAY and rec.asked == []
        for _ in range(3):
            r.send({"p-core": 100})                # both at Packard now
            got = await tick(s, clock)
        assert rec.asked == [("game-server", "vmhost-packard")]
        m = s.c.migration("game-server")   # switched over, waiting for its RARP there
        assert m is not None and m.cause == "placement"
        assert s.c.hypervisor_of("game-server") == "vmhost-packard"
        status = (await (await client.get("/api/v1/placement")).json())
        vm = status["vms"][0]
        assert vm["vm"] == "game-server" and vm["source"].endswith("stanford.yaml:41")
        assert vm["traffic"]["clients"]["p-core"] == ["laptop"]
        assert vm["traffic"]["packets_per_s"]["p-core"] > 50
        assert status["recent"][0]["ok"] and status["recent"][0]["cause"] == "placement"
        assert status["counters"]["started"] == 1 and status["counters"]["succeeded"] == 1
        notices, _ = await sub.next()
        placed = [n for n in notices if isinstance(n, PlacementNotice)]
        events = [(n.event, n.verdict) for n in placed]
        assert ("decision", "migrate") in events and ("migrated", "migrate") in events
        assert all(n.as_json()["cause"] == "placement" for n in placed)
        metrics = await (await client.get("/metrics")).text()
        assert 'mobility_placement_migrations_total{result="started"} 1.0' in metrics
        assert 'mobility_placement_decisions_total{decision="migrate"} 1.0' in metrics
        assert "mobility_placement_rounds_total" in metrics

    run(schema, tmp_path, body)


def test_a_failed_migration_is_backed_off_and_shown(schema: P4Schema, tmp_path: Path) -> None:
    async def body(client: TestClient[Any, Any], s: PlacementService, r: Readings,
                   clock: Clock, rec: Recorder) -> None:
        rec.fail = "the guest would not start"
        await tick(s, clock)
        for _ in range(6):
            r.send({"p-core": 100})
            await tick(s, clock)
        assert rec.asked == [("game-server", "vmhost-packard")]
        status = await (await client.get("/api/v1/placement")).json()
        assert status["backoff"]["vmhost-packard"]["why"] == "the guest would not start"
        assert status["vms"][0]["decision"]["decision"] == "blocked"
        assert not status["recent"][0]["ok"]
        out = await asyncio.to_thread(_cli, ["placement", "--api", str(client.make_url(""))])
        assert "backing off vmhost-packard" in out and "decision BLOCKED" in out
        assert "FAILED (the guest would not start)" in out
        # What the Stanford demo says of a step the engine did not follow (ctrl/lab/roam.py).
        text = said(about(status, "game-server"))
        assert "backing off vmhost-packard" in text and "decision BLOCKED" in text
        assert under_way(status) == 0

    run(schema, tmp_path, body)


def _cli(argv: list[str]) -> str:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(argv) == 0
    return buf.getvalue()


def test_policies_through_the_api_are_checked_and_kept(schema: P4Schema,
                                                       tmp_path: Path) -> None:
    async def body(client: TestClient[Any, Any], s: PlacementService, r: Readings,
                   clock: Clock, rec: Recorder) -> None:
        before = dict(s.engine.policies)
        for vm, doc, status, message in [
            ("game-server", {"policy": "nearest"}, 400, "no mobility manager 'nearest'"),
            ("game-server", {"policy": "follow-clients", "hypervisors": ["mars"]}, 400,
             "no hypervisor 'mars'"),
            ("game-server", {"policy": "follow-clients", "dwell": "soon"}, 400,
             "is not a number"),
            ("laptop", {"policy": "follow-clients"}, 404, "no VM 'laptop'"),
        ]:
            reply = await client.put(f"/api/v1/placement/{vm}", json=doc)
            assert reply.status == status and message in (await reply.json())["error"]
        reply = await client.put("/api/v1/placement/game-server", data=b"{not json")
        assert reply.status == 400
        assert s.engine.policies == before and not (tmp_path / "placement.json").exists()
        reply = await client.put("/api/v1/placement/game-server",
                                 json={"policy": "pack", "dwell": 30})
        assert reply.status == 200
        assert json.loads((tmp_path / "placement.json").read_text()) == {
            "game-server": {"policy": "pack", "dwell": 30.0}}
        one = await (await client.get("/api/v1/placement/game-server")).json()
        assert one["policy"] == "pack" and one["source"] == "api"
        assert (await client.delete("/api/v1/placement/game-server")).status == 200
        assert (await client.get("/api/v1/placement/game-server")).status == 404
        assert json.loads((tmp_path / "placement.json").read_text()) == {"game-server": None}
        assert (await client.delete("/api/v1/placement/nobody")).status == 404
        # A new service (a restart) takes what the API set over the topology file.
        again = PlacementService(s.c, PlacementEngine([FollowClients(), Pack()],
                                                      targets_of(s.c)), None,
                                 store=PolicyStore(tmp_path / "placement.json"))
        again.load(from_topology(s.c.topo))
        assert again.engine.policies == {} and again.sources == {"game-server": "off"}
        (tmp_path / "placement.json").write_text(
            '{"game-server": {"policy": "gone-manager"}}')
        again = PlacementService(s.c, PlacementEngine([FollowClients()], targets_of(s.c)),
                                 None, store=PolicyStore(tmp_path / "placement.json"))
        again.load(from_topology(s.c.topo))       # kept, and its decisions say why
        assert again.engine.policies["game-server"].name == "gone-manager"
        got = await again.round()
        assert got[0].verdict is Verdict.ERROR and "'gone-manager' is loaded" in got[0].why

    run(schema, tmp_path, body)


def test_ctrl_placement_set_and_off(schema: P4Schema, tmp_path: Path) -> None:
    async def body(client: TestClient[Any, Any], s: PlacementService, r: Readings,
                   clock: Clock, rec: Recorder) -> None:
        api = str(client.make_url(""))
        out = await asyncio.to_thread(_cli, ["placement", "--api", api, "set", "game-server",
                                             "follow-clients", "threshold=0.4", "dwell=2",
                                             "--hypervisors", "vmhost-gates,vmhost-packard"])
        assert "policy set" in out
        p = s.engine.policies["game-server"]
        assert (p.params, p.hypervisors) == ({"threshold": 0.4, "dwell": 2.0},
                                             ("vmhost-gates", "vmhost-packard"))
        shown = await asyncio.to_thread(_cli, ["placement", "--api", api])
        assert "game-server: follow-clients (threshold=0.4, dwell=2) from api" in shown
        assert "no decision yet" in shown
        await asyncio.to_thread(_cli, ["placement", "--api", api, "off", "game-server"])
        assert s.engine.policies == {}
        shown = await asyncio.to_thread(_cli, ["placement", "--api", api])
        assert "no VM has a placement policy" in shown

    run(schema, tmp_path, body)
