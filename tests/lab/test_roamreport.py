"""The placement demo's goals and report from what it saw (pure)."""

from __future__ import annotations

import json

from ctrl.lab.moves import Migration
from ctrl.lab.report import Gap, Report, UdpResult
from ctrl.lab.roamreport import (
    Step,
    Timeline,
    about,
    document,
    goals,
    interruptions,
    median_rtt,
    min_spacing,
    said,
    summary,
    under_way,
)


def move(at: float, to: str, cause: str = "placement", pause: float = 0.02) -> Migration:
    return Migration("game", "a", to, True, at - 0.1, at, at + pause, cause=cause)


def udp(losses: list[Gap]) -> UdpResult:
    return UdpResult("x -> y", 100.0, 1000, 1000, 0, 0, 0, 0, 10.0, 0.0, 0.0, 0.0, None, None,
                     losses=losses, longest_loss_ms=max((g.ms for g in losses), default=0.0))


def report(losses: list[Gap]) -> Report:
    return Report("x", "y", "now", 60.0, False, 10.0, [udp(losses)], [], [], [])


def test_interruptions_are_the_losses_around_the_engines_moves_only() -> None:
    moves = [move(10.0, "b"), move(20.0, "c", cause="roam")]
    # The probe started at 5.0: the move paused at 5.0 s of its time, for 20 ms.
    cuts = interruptions(moves, {"laptop": (report([Gap(5.001, 15.0), Gap(30.0, 90.0)]), 5.0),
                                 "phone": (report([Gap(5.0, 45.0)]), 5.0)})
    assert [(c.player, c.lost_ms, c.pause_ms) for c in cuts] == [
        ("laptop", 15.0, 20.0), ("phone", 45.0, 20.0)]
    assert cuts[0].beyond_ms == 0.0 and cuts[1].beyond_ms == 45.0 - 20.0 - 10.0


def test_goals_hold_or_say_what_was_seen() -> None:
    start = Step("at the start", "roam", 0.0, 2.0, {"p": "ap1"}, "h1", "h1", "h1")
    moved = Step("everyone to ap2", "roam", 2.0, 9.0, {"p": "ap2"}, "h2", "h1", "h2",
                 move(5.0, "h2"), 3.0, {"p": 1}, {"p": 1})
    late = Step("everyone to ap1", "roam", 9.0, 19.0, {"p": "ap1"}, "h1", "h2", "h1",
                move(16.5, "h1"), 7.5, {"p": 2}, {"p": 1})
    under = Step("under", "oscillate", 19.0, 40.0, threshold=0.3, saving=0.2)
    over = Step("over", "oscillate", 40.0, 60.0, threshold=0.05, saving=0.2,
                migrations=[move(41.0, "h2"), move(44.0, "h1")])
    got = {g.what: g for g in goals([start, moved, late, under, over], [], dwell=5.0)}
    assert got["at the start: the server stays where it is best (h1)"].met
    assert got["everyone to ap2: the server migrated within dwell + 1 s (6 s)"].met
    assert not got["everyone to ap1: the server migrated within dwell + 1 s (6 s)"].met
    assert got["everyone to ap1: every player's hop count back to its minimum"].seen == \
        "p 2 (min 1)"
    assert got["under: 0 migrations"].met
    spaced = got["over: at most one migration per dwell (5 s)"]
    assert not spaced.met and "2.9 s apart" in spaced.seen
    assert min_spacing([move(1.0, "x"), move(10.0, "y")]) == 10.0 - 0.1 - 1.02
    assert min_spacing([]) is None


def test_the_document_and_summary() -> None:
    t = Timeline(100.0, hops=[(101.0, {"p": 2}), (104.0, {"p": 1})],
                 rtt={"p": [(101.0, 0.5), (101.5, None), (102.0, 0.7)]},
                 decisions=[(103.0, "migrate", "h2", "closer")], moves=[move(103.5, "h2")])
    assert median_rtt(t.rtt["p"], 100.0, 103.0) == 0.6
    step = Step("everyone to ap2", "roam", 102.0, 106.0, {"p": "ap2"}, "h2", "h1", "h2",
                move(103.5, "h2"), 1.5, {"p": 1}, {"p": 1}, {"p": 0.6})
    doc = document(t, [step], [], goals([step], [], 5.0), {"topology": "t"})
    again = json.loads(json.dumps(doc))
    assert again["steps"][0]["migration"]["cause"] == "placement"
    assert again["steps"][0]["start"] == 2.0
    assert again["decisions"][0] == {"at_s": 3.0, "decision": "migrate", "to": "h2",
                                     "why": "closer", "cause": "placement"}
    assert again["timeline"]["rtt_ms"]["p"][1] == [1.5, None]
    text = "\n".join(summary(t, [step], [], goals([step], [], 5.0)))
    assert "the engine migrated game a -> h2 (placement), 1.50 s after the last move" in text
    assert "MET     everyone to ap2: the server migrated within dwell + 1 s" in text


def test_what_the_engine_said_about_the_server() -> None:
    # The shape of GET /api/v1/placement (ctrl/placement/service.py status(); the real one
    # goes through these in tests/placement/test_service.py).
    def vm(name: str, verdict: str, why: str) -> dict[str, object]:
        return {"vm": name, "policy": "follow-clients", "threshold": 0.2, "source": "api",
                "at": "h1", "here_s": 3.2,
                "traffic": {"packets_per_s": {"s2": 180.0}, "clients": {"s2": ["phone"]},
                            "intervals": 4, "discarded": 1,
                            "last_discarded": "its counter on s2 went back (a new entry)"},
                "decision": {"decision": verdict, "to": None, "why": why,
                             "candidates": [{"hypervisor": "h1", "cost": 360.0}]}}
    status = {"actuator": "lab", "managers": {"follow-clients": {}}, "interval_s": 1.0,
              "note": None, "backoff": {}, "counters": {"started": 3, "succeeded": 1,
                                                        "failed": 1},
              "vms": [vm("game", "wait", "h2: cost 180 against 360 here; dwell: here 3.2 s "
                                         "of 5 s"), vm("other", "stay", "best here")],
              "recent": [{"vm": "other", "from": "h1", "to": "h2", "ok": False,
                          "why": "no room"}]}
    mine = about(status, "game")
    assert [v["vm"] for v in mine["vms"]] == ["game"] and mine["recent"] == []
    text = said(mine)
    assert "decision WAIT: h2: cost 180 against 360 here; dwell: here 3.2 s of 5 s" in text
    assert "s2" in text and "180.0 packets/s" in text and "went back" in text
    assert "\n" not in text and "other" not in text
    assert under_way(status) == 1 and under_way({}) == 0
    assert said({}) == "nothing: the controller's placement API did not answer"
    # A roam step the engine did not follow says what it said in the summary.
    t = Timeline(0.0)
    step = Step("everyone to ap2", "roam", 2.0, 19.0, {"p": "ap2"}, "h2", "h1", "h1",
                engine=text)
    lines = summary(t, [step], [], goals([step], [], 5.0))
    assert f"    the engine said: {text}" in lines
    assert json.loads(json.dumps(document(t, [step], [], [], {})))["steps"][0]["engine"] == text
