"""p4runtime-shell as the benchmarks drive it: connect with the pipeline, insert one entry per
Write (as the shell writes)."""

from __future__ import annotations

from collections.abc import Sequence

from ctrl.p4rt.build import BuildPaths
from ctrl.p4rt.entity import TableEntry


class Session:
    """One shell connection at a time, as primary (election id 1) with mobility.p4:
    `reconnect()` before each round (setting the pipeline again), `close()` after."""

    def __init__(self, grpc_addr: str, device_id: int, paths: BuildPaths) -> None:
        self.grpc_addr, self.device_id, self.paths = grpc_addr, device_id, paths
        self._open = False

    def reconnect(self) -> None:
        import p4runtime_sh.shell as sh

        self.close()
        sh.setup(device_id=self.device_id, grpc_addr=self.grpc_addr, election_id=(0, 1),
                 config=sh.FwdPipeConfig(str(self.paths.p4info), str(self.paths.json)),
                 verbose=False)
        self._open = True

    def close(self) -> None:
        import p4runtime_sh.shell as sh

        if self._open:
            sh.teardown()
            self._open = False


def insert_bridging(entries: Sequence[TableEntry]) -> None:
    """Each bridging.forward entry inserted by the shell's TableEntry, one Write each."""
    import p4runtime_sh.shell as sh

    for e in entries:
        te = sh.TableEntry("bridging")(action="bridging.forward")
        te.match["vnet_id"] = str(e.match["vnet_id"])
        te.match["eth_dst"] = str(e.match["eth_dst"])
        te.action["port"] = str(e.params["port"])
        te.insert()
