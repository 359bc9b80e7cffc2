"""The runner's applier with sessions that record writes instead of sending them: rounds in
make-before-break order, plans queued during a round coalesced into the next, and a
switch that refuses its writes named in the result, the move not called converged.
(The same runner on real switches: tests/control/test_runner_live.py.)"""

from __future__ import annotations

import asyncio
import logging
from array import array
from collections.abc import Sequence

import pytest

from ctrl.control.diff import Diff, compose_all
from ctrl.control.plans import Applied, PacketOuts, Plan, coalesce
from ctrl.control.runner import Controller
from ctrl.control.session import SessionError, SwitchSession
from ctrl.control.topology import parse_topology
from ctrl.p4rt.schema import P4Schema
from ctrl.punt.frames import rarp_announcement
from tests.control.frames import punted
from tests.topologies import CHAIN


class RecordingSession(SwitchSession):
    """Takes writes as a switch would, after `delay` seconds, or refuses them."""

    log: list[tuple[str, int]]   # (switch, updates), in the order they were written
    refuse = False
    delay = 0.0

    async def apply_parts(self, parts: Sequence[tuple[int | None, Diff]]) -> int:
        await asyncio.sleep(self.delay)
        if self.refuse:
            raise SessionError(f"{self.name}: write refused: PERMISSION_DENIED")
        change = compose_all([d for _, d in parts])
        self.log.append((self.name, len(change)))
        return len(change)

    async def packet_out(self, port: int, frame: bytes) -> None:
        self.log.append((f"{self.name}:out", port))

    async def packet_outs(self, ports: Sequence[int], frames: bytes) -> None:
        self.log += [(f"{self.name}:out", port) for port in ports]


def controller(schema: P4Schema) -> tuple[Controller, list[tuple[str, int]]]:
    c = Controller(parse_topology(CHAIN), schema, b"{}")
    log: list[tuple[str, int]] = []
    for name, s in list(c.sessions.items()):
        fake = RecordingSession(s.switch, schema, b"{}", s.on_packets, s.wanted)
        fake.log = log
        c.sessions[name] = fake
    return c, log


def rarp_plans(c: Controller, switch: str, port: int, host: str = "vm") -> list[Plan]:
    from ctrl.p4rt.entity import PacketIn

    mac = c.find(host).mac
    pkt = PacketIn(rarp_announcement(mac), {"ingress_port": port, "reason": 2, "vnet_id": 10})
    return list(c.core.packet_ins(switch, punted(pkt), 1, c.clock()))


def test_a_round_writes_the_new_place_first_and_the_old_last(schema: P4Schema) -> None:
    async def body() -> None:
        c, log = controller(schema)
        [plan] = rarp_plans(c, "c3", 3)          # vm: c1 -> c3 on the ring
        [applied] = await asyncio.gather(*c.submit([plan]))
        assert applied.ok and applied.written == sum(n for _, n in log)
        order = [s for s, _ in log]
        assert order[0] == "c3" and order[-1] == "c1"
        assert len(c.rounds.convergence_s) == 1
        await c.aclose()

    asyncio.run(body())


def test_plans_queued_during_a_round_are_one_round(schema: P4Schema) -> None:
    async def body() -> None:
        c, log = controller(schema)
        for s in c.sessions.values():
            s.delay = 0.02  # type: ignore[attr-defined]
        first = c.submit(rarp_plans(c, "c3", 3))          # a round starts with this one
        await asyncio.sleep(0.005)
        waiting = rarp_plans(c, "c4", 3, "vm") + rarp_plans(c, "c5", 3, "cl2")
        later = c.submit(waiting)                         # two hosts: side by side
        await asyncio.gather(*first)
        written_before = len(log)
        await asyncio.gather(*later)
        writes = [s for s, _ in log[written_before:]]
        assert len(coalesce(waiting)) == max(len(p.steps) for p in waiting)
        assert sorted(writes[:2]) == ["c4", "c5"]          # both new places first
        assert len(writes) < sum(len(step) for p in waiting for step in p.steps)
        await c.aclose()

    asyncio.run(body())


def test_a_refused_write_is_no_converged_move(schema: P4Schema,
                                              caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        c, log = controller(schema)
        c.sessions["c2"].refuse = True  # type: ignore[attr-defined]
        plans = rarp_plans(c, "c3", 3)
        with caplog.at_level(logging.ERROR):
            [applied] = await asyncio.gather(*c.submit(plans))
        assert not applied.ok and set(applied.failed) == {"c2"}
        assert "PERMISSION_DENIED" in applied.failed["c2"]
        assert c.rounds.convergence_s == []
        assert "NOT converged" in caplog.text and "c2" in caplog.text
        assert "c2" not in [s for s, _ in log]   # and the rest of the round went on
        assert {"c3", "c1"} <= {s for s, _ in log}
        await c.aclose()

    asyncio.run(body())


def test_an_api_step_says_which_switches_did_not_take_it(schema: P4Schema) -> None:
    async def body() -> None:
        c, _ = controller(schema)
        c.sessions["c4"].refuse = True  # type: ignore[attr-defined]
        done = await c.announce("vm", "h4")
        assert set(done.failed) == {"c4"} and c.migration("vm") is not None
        await c.aclose()

    asyncio.run(body())


def test_quiet_waits_for_every_queued_plan_to_be_written(schema: P4Schema) -> None:
    async def body() -> None:
        c, log = controller(schema)
        for s in c.sessions.values():
            s.delay = 0.01  # type: ignore[attr-defined]
        await asyncio.wait_for(c.quiet(), 1)              # nothing queued: at once
        done = c.submit(rarp_plans(c, "c3", 3))
        quiet = asyncio.ensure_future(c.quiet())
        await asyncio.sleep(0.005)
        assert not quiet.done()                           # the round is being written
        await quiet
        assert all(f.done() for f in done) and log        # every write came first
        await c.aclose()

    asyncio.run(body())


def test_lldp_waits_for_a_lull_in_a_storms_plans_half_an_interval_at_most(
        schema: P4Schema) -> None:
    """A storm is many rounds with short gaps between them: LLDP's next slice goes once
    no plan has been queued or written for the lull, not in a gap between two rounds;
    plans that never stop hold it until its deadline, no longer."""
    async def body() -> None:
        c, _ = controller(schema)
        loop = asyncio.get_running_loop()
        written: list[asyncio.Future[Applied]] = []

        async def storm(rounds: int, gap: float) -> None:
            for _ in range(rounds):
                written.extend(c.submit([Plan(start=c.clock(), why="a round")]))
                await asyncio.sleep(gap)

        rounds = asyncio.ensure_future(storm(6, 0.03))   # gaps shorter than the lull
        await asyncio.sleep(0.005)
        lull = asyncio.ensure_future(c._lull(0.1, loop.time() + 30))
        await rounds
        assert not lull.done()                  # between rounds: still held
        await asyncio.wait_for(lull, 5)
        assert all(f.done() for f in written)   # every round written first
        endless = asyncio.ensure_future(storm(10_000, 0.02))
        await asyncio.sleep(0.005)
        began = loop.time()
        await asyncio.wait_for(c._lull(0.1, began + 0.3), 5)   # the deadline, not a lull
        assert not endless.done()
        endless.cancel()
        await asyncio.sleep(0.2)

        async def replies(n: int, gap: float) -> None:   # proxy ARP answered: frames only
            for _ in range(n):
                c.submit([Plan(start=c.clock(), why="proxy ARP",
                               outs=PacketOuts("c1", array("I", [3]), bytes(60)))])
                await asyncio.sleep(gap)

        steady = asyncio.ensure_future(replies(10_000, 0.02))
        began = loop.time()
        await asyncio.wait_for(c._lull(0.1, began + 2.0), 5)
        assert loop.time() - began < 1.0   # frames alone do not hold LLDP to its deadline
        steady.cancel()
        await c.aclose()

    asyncio.run(body())
