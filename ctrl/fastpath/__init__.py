"""The controller's fast path: packet-in parsing and path recomputation in C (ext/, cffi).

Each call runs the compiled module ctrl._fastpath where the install built it,
and the pure-Python reference (parse_ref.py, paths_ref.py) otherwise, with the
same results; `native_available()` tells which, and a missing module is
logged once.
"""

from ctrl.fastpath.columns import Records
from ctrl.fastpath.errors import (
    FastPathError,
    FrameError,
    GraphError,
    LinkStateError,
    NativeError,
    NotBuiltError,
)
from ctrl.fastpath.graph import INF, Graph
from ctrl.fastpath.native import Backend, native_available
from ctrl.fastpath.parse import BatchParser, MetaColumns, RecordBatch, parse_batch
from ctrl.fastpath.paths import PathEngine, Tree, shortest_paths
from ctrl.fastpath.records import (
    Arp,
    Dhcp,
    Ethernet,
    Gre,
    Ipv4,
    Kind,
    Lldp,
    Meta,
    PuntReason,
    Record,
    Reject,
    Udp,
    Vlan,
)

__all__ = [
    "INF", "Arp", "Backend", "BatchParser", "Dhcp", "Ethernet", "FastPathError", "FrameError",
    "Graph", "GraphError", "Gre", "Ipv4", "Kind", "LinkStateError", "Lldp", "Meta", "MetaColumns",
    "NativeError", "NotBuiltError", "PathEngine", "PuntReason", "Record", "RecordBatch",
    "Records", "Reject", "Tree", "Udp", "Vlan", "native_available", "parse_batch",
    "shortest_paths",
]
