"""The fast path in C (ext/, cffi): packet-in parsing, path recomputation, Write decoding.

Each call runs the compiled module ctrl._fastpath where the install built it,
and the pure-Python reference (parse_ref.py, paths_ref.py, p4rt_ref.py) otherwise, with the
same results; `native_available()` tells which, and a missing module is
logged once.
"""

from ctrl.fastpath.columns import Records
from ctrl.fastpath.errors import (
    FastPathError,
    FrameError,
    GraphError,
    LinkStateError,
    MalformedWriteError,
    NativeError,
    NotBuiltError,
    UnsupportedWriteError,
    WriteDecodeError,
)
from ctrl.fastpath.graph import INF, Graph
from ctrl.fastpath.native import Backend, native_available
from ctrl.fastpath.p4rt import WriteDecoder, decode_write
from ctrl.fastpath.p4rt_batch import FastUpdate, Verdict, WriteBatch, WriteHeader
from ctrl.fastpath.p4rt_schema import CompiledSchema
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
    "INF", "Arp", "Backend", "BatchParser", "CompiledSchema", "Dhcp", "Ethernet",
    "FastPathError", "FastUpdate", "FrameError", "Graph", "GraphError", "Gre", "Ipv4", "Kind",
    "LinkStateError", "Lldp", "MalformedWriteError", "Meta", "MetaColumns", "NativeError",
    "NotBuiltError", "PathEngine", "PuntReason", "Record", "RecordBatch", "Records", "Reject",
    "Tree", "Udp", "UnsupportedWriteError", "Verdict", "Vlan", "WriteBatch", "WriteDecodeError",
    "WriteDecoder", "WriteHeader", "decode_write", "native_available", "parse_batch",
    "shortest_paths",
]
