"""Placement policies from where they are given (the topology file, the API's JSON, the
command line's NAME=VALUE words), and kept across restarts in a file of their own.

    {"policy": "follow-clients", "threshold": 0.3, "dwell": 5, "hypervisors": ["h1", "h2"]}

A policy set through the API outlives the controller when `ctrl serve` is given
`--placement-state FILE`: the file holds, per VM, the policy the API last set (or null:
switched off), written atomically; at start it is read over the topology file's.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from ctrl.control.topology import PlacementSpec, Topology
from ctrl.placement.manager import PlacementError, Policy


def from_spec(spec: PlacementSpec) -> Policy:
    return Policy(spec.policy, dict(spec.params), spec.hypervisors)


def from_topology(topo: Topology) -> dict[str, tuple[Policy, str]]:
    """VM -> (its policy, where the file gives it) for every VM with a `placement`."""
    return {vm.name: (from_spec(vm.placement), vm.placement.origin)
            for vm in topo.vms.values() if vm.role == "vm" and vm.placement is not None}


def from_json(body: object) -> Policy:
    """A policy from the API's JSON; PlacementError saying what is wrong."""
    if not isinstance(body, dict) or not isinstance(body.get("policy"), str) \
            or not body["policy"]:
        raise PlacementError('give {"policy": MANAGER[, PARAM: NUMBER ...]'
                             '[, "hypervisors": [NAME, ...]]}')
    params: dict[str, float] = {}
    hypervisors: tuple[str, ...] = ()
    for key, value in body.items():
        if key == "policy":
            continue
        if key == "hypervisors":
            if not isinstance(value, list) or not all(isinstance(h, str) for h in value):
                raise PlacementError("hypervisors: a list of hypervisor names")
            hypervisors = tuple(value)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise PlacementError(f"{key}: {value!r} is not a number")
        params[key] = float(value)
    return Policy(str(body["policy"]), params, hypervisors)


def from_words(name: str, words: Iterable[str], hypervisors: Iterable[str] = ()) -> Policy:
    """`ctrl placement set VM NAME threshold=0.3 dwell=5`."""
    params: dict[str, float] = {}
    for word in words:
        key, sep, text = word.partition("=")
        if not sep or not key:
            raise PlacementError(f"{word!r}: give PARAM=NUMBER")
        try:
            params[key] = float(text)
        except ValueError:
            raise PlacementError(f"{word!r}: {text!r} is not a number") from None
    return Policy(name, params, tuple(hypervisors))


class PolicyStore:
    """The policies the API set, in a JSON file (None: not kept)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def load(self) -> dict[str, Policy | None]:
        if self.path is None:
            return {}
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise PlacementError(f"{self.path}: unreadable placement state ({exc})") from None
        if not isinstance(doc, dict):
            raise PlacementError(f"{self.path}: not a placement state (a JSON object)")
        out: dict[str, Policy | None] = {}
        for vm, body in doc.items():
            try:
                out[str(vm)] = None if body is None else from_json(body)
            except PlacementError as exc:
                raise PlacementError(f"{self.path}: {vm}: {exc}") from None
        return out

    def save(self, policies: Mapping[str, Policy | None]) -> None:
        if self.path is None:
            return
        doc = {vm: None if p is None else p.as_json() for vm, p in sorted(policies.items())}
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(doc, indent=1))
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise PlacementError(f"{self.path}: cannot keep the placement state: "
                                 f"{exc.strerror}") from None
