"""A lab migration's stages from what the lab saw and what the controller said."""

from __future__ import annotations

import pytest

from ctrl.lab.breakdown import breakdown, find_move
from ctrl.lab.moves import Migration
from ctrl.lab.report import Gap

M = Migration("vm2", "server2", "server1", False, asked=99.9, paused=100.0, resumed=100.004)
RECORD = {"mac": "02:00:00:00:01:02", "at": "a1:3", "stages": {
    "received": 100.0055, "decided": 100.0065, "done": 100.0125, "planning_ms": 0.3,
    "packet_in_to_decision_ms": 1.0,
    "writes": [{"step": 0, "switch": "a1", "ms": 3.0, "after_decision_ms": 0.1},
               {"step": 1, "switch": "a2", "ms": 2.5, "after_decision_ms": 3.4}]}}


def test_the_stages_of_a_reactive_move() -> None:
    # the probe's longest loss: 11 ms from 1 ms before the pause (mark at 5.0 s)
    b = breakdown(M, RECORD, Gap(at=4.999, ms=11.0), mark_at=5.0)
    assert b.rarp_to_packet_in == pytest.approx(1.5)
    assert b.packet_in_to_decision == 1.0 and b.planning == 0.3
    assert b.writes == pytest.approx(6.0)
    assert b.steps == (("a1 3.0",), ("a2 2.5",))
    assert b.last_write_to_traffic == pytest.approx(-2.5)   # through before the last ack
    assert "writes (decision to last ack) 6.0 ms: a1 3.0 then a2 2.5" in b.line()


def test_unknown_where_the_controller_says_nothing() -> None:
    b = breakdown(M, None, None, mark_at=5.0)
    assert (b.rarp_to_packet_in, b.writes, b.last_write_to_traffic) == (None, None, None)
    assert "RARP to packet-in -" in b.line()


def test_the_record_is_the_vm_s_move_after_its_pause() -> None:
    before = {**RECORD, "stages": {**RECORD["stages"], "decided": 99.0}}   # type: ignore[dict-item]
    other = {**RECORD, "mac": "02:00:00:00:01:01"}
    assert find_move([before, other, RECORD], "02:00:00:00:01:02", M) is RECORD
    assert find_move([before], "02:00:00:00:01:02", M) is None
