"""What a lab made, on disk: `ctrl lab down` undoes it whatever happened in between.

The state directory (default /run/vm-mobility-lab) holds state.json, written
again (atomically) after every namespace, link or process is made, so a lab
cut off half-way, or whose `ctrl lab up` crashed, is still torn down whole;
the controller's topology file and every process's log sit beside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ctrl.lab.procs import Proc
from ctrl.lab.spec import LabError, LabSpec, lab_tag, parse_lab
from ctrl.targets.ovs.dpdk import DpdkConfig
from ctrl.targets.ovs.errors import OvsError

DEFAULT_DIR = Path("/run/vm-mobility-lab")
STATE = "state.json"
EVENTS = "events.jsonl"
LOCK = "state.lock"
PLACEMENT = "placement.json"     # the policies the API gave the lab's controller


@dataclass
class LabState:
    dir: Path
    source: str                      # the topology file's text
    origin: str                      # and where it came from
    target: str
    grpc_ports: list[int]
    api: str = ""
    namespaces: list[str] = field(default_factory=list)
    links: list[tuple[str | None, str]] = field(default_factory=list)  # root/site-ns veths
    processes: list[Proc] = field(default_factory=list)
    locations: dict[str, str] = field(default_factory=dict)  # host -> hypervisor now
    up: bool = False                 # everything made and the controller in sync
    guests: str = "netns"            # what its VMs are: namespaces, or QEMU guests
    accel: str = ""                  # the QEMU guests': tcg or kvm
    image: tuple[str, str, str] | None = None  # their kernel, initramfs, kernel version
    controllers: int = 1             # more than one: a pair (or more) through etcd
    apis: list[str] = field(default_factory=list)   # the APIs of controllers 2..N
    dpdk: DpdkConfig | None = None   # the OVS target on DPDK's datapath, so configured

    @property
    def datapath(self) -> str:
        return "netdev" if self.dpdk is None else "dpdk"

    @property
    def tag(self) -> str:
        return lab_tag(str(self.dir.resolve()))

    def spec(self) -> LabSpec:
        return parse_lab(self.source, self.origin, target=self.target, tag=self.tag,
                         grpc_ports=iter(self.grpc_ports), guests=self.guests,
                         datapath=self.datapath)

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        doc = {
            "source": self.source, "origin": self.origin, "target": self.target,
            "grpc_ports": self.grpc_ports, "api": self.api, "namespaces": self.namespaces,
            "links": [list(x) for x in self.links],
            "processes": [p.to_json() for p in self.processes],
            "locations": self.locations, "up": self.up, "guests": self.guests,
            "accel": self.accel, "image": list(self.image) if self.image else None,
            "controllers": self.controllers, "apis": self.apis,
            "dpdk": asdict(self.dpdk) if self.dpdk is not None else None,
        }
        tmp = self.dir / (STATE + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, self.dir / STATE)

    @classmethod
    def load(cls, directory: Path) -> LabState | None:
        path = directory / STATE
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise LabError(f"{path}: unreadable lab state ({exc}); remove it by hand "
                           "after checking `ip netns list`") from None
        image = doc.get("image")
        try:
            dpdk = DpdkConfig(**doc["dpdk"]) if doc.get("dpdk") is not None else None
        except (TypeError, OvsError) as exc:
            raise LabError(f"{path}: its DPDK settings are unreadable ({exc})") from None
        return cls(directory, doc["source"], doc["origin"], doc["target"],
                   [int(p) for p in doc["grpc_ports"]], doc.get("api", ""),
                   list(doc.get("namespaces", [])),
                   [(x[0], x[1]) for x in doc.get("links", [])],
                   [Proc.from_json(p) for p in doc.get("processes", [])],
                   dict(doc.get("locations", {})), bool(doc.get("up", False)),
                   str(doc.get("guests", "netns")), str(doc.get("accel", "")),
                   (str(image[0]), str(image[1]), str(image[2])) if image else None,
                   int(doc.get("controllers", 1)), [str(a) for a in doc.get("apis", [])],
                   dpdk)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Held by one process of the lab at a time (a lock file beside the state), with
        the state read again once it is held: what another process changed meanwhile (a
        migration's new location, a guest's new QEMU) is not written over."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / LOCK).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                fresh = LabState.load(self.dir)
                if fresh is not None:
                    for f in fields(LabState):
                        setattr(self, f.name, getattr(fresh, f.name))
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def remove(self) -> None:
        """The lab is gone: its state, its migrations and the placement policies its
        controller was given (the logs stay): a new lab here starts from its file."""
        for name in (STATE, EVENTS, LOCK, PLACEMENT):
            with contextlib.suppress(FileNotFoundError):
                (self.dir / name).unlink()

    def add_event(self, event: dict[str, object]) -> None:
        """A migration, for a probe running in another process to mark."""
        with (self.dir / EVENTS).open("a") as f:
            f.write(json.dumps(event) + "\n")

    def events(self) -> list[dict[str, object]]:
        try:
            lines = (self.dir / EVENTS).read_text().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out
