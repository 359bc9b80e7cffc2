"""Where a move's time goes: the runner times each stage of a move that came as a
packet-in (packet-in to decision, planning, each Write's round trip, to converged), says
it in the move's record, its log line, the API and /metrics histograms."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ctrl.control.stages import BUCKETS, Histograms, MoveStages, RoundWrites, Write
from ctrl.fastpath.stream import PacketInDecoder
from ctrl.p4rt.schema import P4Schema
from ctrl.punt.classify import packet_in_spec
from tests.control.test_runner import controller
from tests.fastpath.messages import message, rarp


def test_a_move_s_stages_in_ms_and_in_one_line() -> None:
    m = MoveStages(10.0, 10.002, 0.0005,
                   (Write(0, "c3", 0.003, 10.0021), Write(1, "c2", 0.001, 10.0052),
                    Write(1, "c4", 0.0012, 10.0052), Write(2, "c1", 0.002, 10.0065)), 10.009)
    assert m.summary() == ("packet-in to decision 2.0; planning 0.5; writes c3 3.0 then "
                           "c2 1.0, c4 1.2 then c1 2.0 ms")
    j = m.as_json()
    assert j["packet_in_to_decision_ms"] == 2.0 and j["packet_in_to_converged_ms"] == 9.0
    assert [w["after_decision_ms"] for w in j["writes"]] == [0.1, 3.2, 3.2, 4.5]
    api = MoveStages(0.0, 5.0, 0.0, (), 5.001).as_json()   # no packet-in: asked by the API
    assert "packet_in_to_decision_ms" not in api


def test_histograms_are_cumulative_with_their_sums() -> None:
    h = Histograms()
    for s in (0.0004, 0.004, 0.004, 2.0):
        h.observe("write", s)
    counts = dict(h.buckets("write"))
    assert counts["0.0005"] == 1 and counts["0.005"] == 3 and counts["+Inf"] == 4
    assert counts[str(BUCKETS[-1])] == 3
    assert h.sums["write"] == pytest.approx(2.0084)


def test_a_move_learned_from_a_packet_in_is_timed(schema: P4Schema,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        c, _ = controller(schema)
        for s in c.sessions.values():
            s.delay = 0.002  # type: ignore[attr-defined]
        decoder = PacketInDecoder(packet_in_spec(schema))
        batch = decoder.decode([message(rarp(c.find("vm").mac), 3, 2, 10)])
        batch.received = c.clock() - 0.001
        with caplog.at_level(logging.INFO, "ctrl.control.rounds"):
            c._on_packets("c3", batch)                # vm: c1 -> c3 on the ring
            await asyncio.sleep(0.1)
        [record] = list(c.rounds.moves)
        st = record.stages
        assert st is not None and st.received == batch.received
        assert 0.001 <= st.decided - st.received < 1.0 and st.planning > 0
        assert st.writes[0].switch == "c3" and st.writes[-1].switch == "c1"
        assert all(w.seconds >= 0.002 for w in st.writes)
        assert st.writes[-1].step > st.writes[0].step   # make-before-break: in turn
        assert "packet-in to decision" in caplog.text and "writes c3" in caplog.text
        assert c.rounds.stages.counts["write"] != [0] * (len(BUCKETS) + 1)
        assert record.as_json()["stages"]["packet_in_to_converged_ms"] > 0
        await c.aclose()

    asyncio.run(body())


def test_a_plan_s_writes_are_its_switches_in_the_round_s_order() -> None:
    writes = [Write(0, "s2", 0.001, 1.0), Write(0, "s1", 0.002, 1.0),
              Write(1, "s3", 0.001, 1.1), Write(1, "s2", 0.003, 1.1)]
    round_writes = RoundWrites(writes)
    assert round_writes.of({"s2", "s3"}) == (writes[0], writes[2], writes[3])
    assert round_writes.of(["s1"]) == (writes[1],)
    assert round_writes.of(["s9"]) == ()
