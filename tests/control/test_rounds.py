"""A round of plans written through sessions that record writes instead of sending them:
step by step, a switch that refuses a step skipped for the rest of the round, the frames
after the writes, and each move recorded as converged only when every switch took its
writes. (Through the runner's applier: tests/control/test_runner.py.)"""

from __future__ import annotations

import asyncio
from array import array

from ctrl.control.diff import diff
from ctrl.control.hosts import Moved
from ctrl.control.plans import PacketOuts, Plan, Send
from ctrl.control.topology import PortRef
from ctrl.p4rt.entity import TableEntry
from ctrl.p4rt.schema import P4Schema
from tests.control.test_runner import controller


def two_step_plan(host_port: int = 3) -> Plan:
    """c1 and c2, then c2 and c3 (one insert each), then a frame out of c2 and c3."""
    one = diff([TableEntry.of_ints("bridging", {"vnet_id": 10, "eth_dst": 0x020000000099},
                                   "bridging.forward", {"port": host_port})], [])
    return Plan(steps=[{"c1": one, "c2": one}, {"c2": one, "c3": one}],
                sends=[Send("c2", 3, b"\x00" * 60), Send("c3", 4, b"\x00" * 60)],
                start=0.0)


def test_a_round_of_steps_then_frames_and_a_converged_move(schema: P4Schema) -> None:
    async def body() -> None:
        c, log = controller(schema)
        plan = two_step_plan()
        host = c.find("vm")
        plan.moves = [Moved(host, host.location, PortRef("c3", 3))]
        plan.start = c.clock()
        [applied] = await c.rounds.write([plan])
        assert applied.ok and applied.written == 4
        writes = [s for s, _ in log if not s.endswith(":out")]
        assert sorted(writes[:2]) == ["c1", "c2"] and sorted(writes[2:]) == ["c2", "c3"]
        assert log[4:] == [("c2:out", 3), ("c3:out", 4)]   # frames after every write
        [record] = list(c.rounds.moves)
        assert record.failed == () and record.writes == 4 and record.new == PortRef("c3", 3)
        assert len(c.rounds.convergence_s) == 1 and record.stages is not None
        assert sorted(w.switch for w in record.stages.writes) == ["c1", "c2", "c2", "c3"]

    asyncio.run(body())


def test_a_switch_that_refuses_a_step_is_skipped_for_the_rest(schema: P4Schema) -> None:
    async def body() -> None:
        c, log = controller(schema)
        c.sessions["c2"].refuse = True  # type: ignore[attr-defined]
        plan = two_step_plan()
        host = c.find("vm")
        plan.moves = [Moved(host, host.location, PortRef("c3", 3))]
        [applied] = await c.rounds.write([plan])
        assert set(applied.failed) == {"c2"} and applied.written == 2
        assert [s for s, _ in log] == ["c1", "c3", "c2:out", "c3:out"]
        [record] = list(c.rounds.moves)
        assert record.failed == ("c2",)
        assert c.rounds.convergence_s == []   # a failed write is never a converged move

    asyncio.run(body())


def test_a_plan_untouched_by_a_failure_is_applied(schema: P4Schema) -> None:
    async def body() -> None:
        c, _ = controller(schema)
        c.sessions["c5"].refuse = True  # type: ignore[attr-defined]
        elsewhere = Plan(steps=[{"c5": two_step_plan().steps[0]["c1"]}])
        [mine, theirs] = await c.rounds.write([two_step_plan(), elsewhere])
        assert mine.ok and mine.written == 4
        assert set(theirs.failed) == {"c5"} and theirs.written == 0

    asyncio.run(body())


def test_a_buffer_of_packet_outs_goes_out_after_the_sends(schema: P4Schema) -> None:
    """The proxy ARP replies answered in C (one PacketOuts a batch) go out frame by
    frame, each out of its port, as the Sends of the plan before them."""
    async def body() -> None:
        c, log = controller(schema)
        frames = bytes(range(60)) + bytes(range(60, 120))
        plan = Plan(sends=[Send("c2", 3, b"\x00" * 60)], start=c.clock(), why="proxy ARP",
                    outs=PacketOuts("c1", array("I", [4, 7]), frames))
        assert list(plan.frames())[1:] == [Send("c1", 4, frames[:60]),
                                            Send("c1", 7, frames[60:])]
        [applied] = await c.rounds.write([plan])
        assert applied.ok and log == [("c2:out", 3), ("c1:out", 4), ("c1:out", 7)]

    asyncio.run(body())
