"""The controller's fast path: packet-in parsing in C (ext/), with a Python reference."""

from ctrl.fastpath.native import FastPathError, RecordBatch, c_module, parse_batch
from ctrl.fastpath.records import Kind, Meta, Record, Reject

__all__ = ["FastPathError", "Kind", "Meta", "Record", "RecordBatch", "Reject", "c_module",
           "parse_batch"]
