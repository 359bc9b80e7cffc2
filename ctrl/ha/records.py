"""The shared state's records in etcd, and the standby's hot copy of them. Pure.

  /vm-mobility/hosts/VNET/MAC        {"switch": .., "port": .., "ip": int | null}
  /vm-mobility/migrations/VNET/MAC   a Migration under way (deleted when it ends)

MAC is 12 hex digits. The primary writes them as its core's notices come; the standby
applies every put and delete to a `HotCopy` and, on taking over, hands it to the core.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ctrl.control.migrations import Migration, Phase
from ctrl.control.topology import PortRef

HostKey = tuple[int, int]
PREFIX = b"/vm-mobility/"
HOSTS = PREFIX + b"hosts/"
MIGRATIONS = PREFIX + b"migrations/"


class RecordError(ValueError):
    """A record in etcd that is not one of ours (it is skipped, and said)."""


def key_of(base: bytes, key: HostKey) -> bytes:
    return base + f"{key[0]}/{key[1]:012x}".encode()


def parse_key(base: bytes, raw: bytes) -> HostKey:
    try:
        vnet, mac = raw[len(base):].decode().split("/")
        return int(vnet), int(mac, 16)
    except ValueError as exc:
        raise RecordError(f"not a host key: {raw!r}") from exc


@dataclass(frozen=True, slots=True)
class HostRecord:
    at: PortRef
    ip: int | None

    def encode(self) -> bytes:
        return json.dumps({"switch": self.at.switch, "port": self.at.port,
                           "ip": self.ip}).encode()

    @staticmethod
    def decode(raw: bytes) -> HostRecord:
        try:
            d = json.loads(raw)
            return HostRecord(PortRef(str(d["switch"]), int(d["port"])),
                              None if d.get("ip") is None else int(d["ip"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise RecordError(f"not a host record: {raw[:80]!r}") from exc


def encode_migration(m: Migration) -> bytes:
    return json.dumps({"vnet": m.vnet, "mac": m.mac, "src": [m.src.switch, m.src.port],
                       "dst": [m.dst.switch, m.dst.port], "group": m.group,
                       "phase": m.phase.value, "announced": m.announced,
                       "changed": m.changed, "cause": m.cause}).encode()


def decode_migration(raw: bytes) -> Migration:
    try:
        d: dict[str, Any] = json.loads(raw)
        return Migration(int(d["vnet"]), int(d["mac"]), PortRef(d["src"][0], int(d["src"][1])),
                         PortRef(d["dst"][0], int(d["dst"][1])), int(d["group"]),
                         Phase(d["phase"]), float(d["announced"]), float(d["changed"]),
                         cause=str(d.get("cause", "")))
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise RecordError(f"not a migration record: {raw[:80]!r}") from exc


@dataclass(slots=True)
class HotCopy:
    """What the primary last wrote: where every host is, the migrations in flight."""

    hosts: dict[HostKey, HostRecord] = field(default_factory=dict)
    flights: dict[HostKey, Migration] = field(default_factory=dict)
    revision: int = 0
    skipped: int = 0   # records that were not ours

    def apply(self, kind: str, key: bytes, value: bytes, revision: int) -> None:
        """One put or delete as etcd reports it."""
        self.revision = max(self.revision, revision)
        try:
            if key.startswith(HOSTS):
                hk = parse_key(HOSTS, key)
                if kind == "DELETE":
                    self.hosts.pop(hk, None)
                else:
                    self.hosts[hk] = HostRecord.decode(value)
            elif key.startswith(MIGRATIONS):
                hk = parse_key(MIGRATIONS, key)
                if kind == "DELETE":
                    self.flights.pop(hk, None)
                else:
                    m = decode_migration(value)
                    if m.phase.active:
                        self.flights[hk] = m
                    else:
                        self.flights.pop(hk, None)
        except RecordError:
            self.skipped += 1
