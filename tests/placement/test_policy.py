"""Policies from the API's JSON and the command line's words, refused with a reason, and
kept in their file across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctrl.control.topology import parse_topology
from ctrl.lab.cli import read_topology
from ctrl.placement.manager import PlacementError, Policy
from ctrl.placement.policy import PolicyStore, from_json, from_topology, from_words


def test_from_json_and_back() -> None:
    p = from_json({"policy": "follow-clients", "threshold": 0.3, "dwell": 5,
                   "hypervisors": ["h1", "h2"]})
    assert p == Policy("follow-clients", {"threshold": 0.3, "dwell": 5.0}, ("h1", "h2"))
    assert from_json(p.as_json()) == p
    assert from_words("pack", ["dwell=2"], ["h1"]) == Policy("pack", {"dwell": 2.0}, ("h1",))


@pytest.mark.parametrize(("body", "message"), [
    ([], "give {"), ({"threshold": 1}, "give {"), ({"policy": ""}, "give {"),
    ({"policy": "p", "dwell": "5"}, "dwell: '5' is not a number"),
    ({"policy": "p", "dwell": True}, "is not a number"),
    ({"policy": "p", "dwell": float("nan")}, "is not a number"),
    ({"policy": "p", "hypervisors": "h1"}, "a list of hypervisor names"),
])
def test_bad_json_says_why(body: object, message: str) -> None:
    with pytest.raises(PlacementError, match=message):
        from_json(body)


def test_bad_words_say_why() -> None:
    with pytest.raises(PlacementError, match="give PARAM=NUMBER"):
        from_words("p", ["dwell"])
    with pytest.raises(PlacementError, match="'x' is not a number"):
        from_words("p", ["dwell=x"])


def test_the_topology_file_gives_policies_with_where() -> None:
    text, origin = read_topology("stanford")
    got = from_topology(parse_topology(text, origin, addresses=False))
    policy, where = got["game-server"]
    assert policy.name == "follow-clients" and policy.params["dwell"] == 5.0
    assert where.startswith(f"{origin}:") and list(got) == ["game-server"]


def test_the_store_keeps_what_the_api_set(tmp_path: Path) -> None:
    store = PolicyStore(tmp_path / "sub" / "placement.json")
    assert store.load() == {}
    kept = {"a": Policy("pack", {"dwell": 1.0}), "b": None}
    store.save(kept)
    assert store.load() == kept
    assert PolicyStore(None).load() == {}
    PolicyStore(None).save(kept)   # not kept: nothing to do
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(PlacementError, match="unreadable placement state"):
        PolicyStore(tmp_path / "bad.json").load()
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(PlacementError, match="not a placement state"):
        PolicyStore(tmp_path / "list.json").load()
    (tmp_path / "x.json").write_text('{"a": {"policy": 3}}')
    with pytest.raises(PlacementError, match=r"x\.json: a: give"):
        PolicyStore(tmp_path / "x.json").load()
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "placement.json").mkdir()   # a directory where the file should be
    with pytest.raises(PlacementError, match="cannot keep the placement state"):
        PolicyStore(tmp_path / "ro" / "placement.json").save(kept)
