"""The quiet filter: which punted frames of a batch can change anything, told in C
without a Python object per frame (ext/fp_punt.h has the rules).

    quiet = QuietFilter()
    kept = quiet.filter(batch, switch_index)    # indices of the frames to look at
    quiet.settle(host_key(vnet, mac), switch_index << 16 | port, ip)   # a host at rest
    quiet.forget(key); quiet.forget_all()       # its next frame, or everyone's, comes through

A host is settled by its owner (the control core) when a frame of it where it is would
change nothing; the owner forgets it, or everyone, as soon as that may no longer hold.
quiet_ref.py is the same in Python, used where the C module is not built.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Any

from ctrl.fastpath import quiet_ref
from ctrl.fastpath.errors import FrameError, NativeError
from ctrl.fastpath.native import Backend, Native, select
from ctrl.fastpath.parse import RecordBatch
from ctrl.fastpath.quiet_ref import Entry, host_key
from ctrl.fastpath.stream import PuntBatch

__all__ = ["Filtered", "QuietFilter", "host_key"]

_FP_E_CAPACITY = -9
_FIRST_CAPACITY = 1024


@dataclass(frozen=True, slots=True)
class Filtered:
    """What the filter made of a batch."""

    kept: array[int]    # indices of the frames to look at, in order
    malformed: int      # rejected by the parser, or no metadata
    ignored: int        # nothing the controller uses
    quiet: int          # settled hosts seen where they are
    repeated: int       # LLDP frames already seen in the batch


class QuietFilter:
    __slots__ = ("_native", "_ref", "_ref_epoch", "_slots", "_table")

    def __init__(self, backend: Backend = Backend.AUTO) -> None:
        self._native = select(backend)
        self._ref: dict[int, Entry] = {}
        self._ref_epoch = 1
        self._table: Any = None
        self._slots: Any = None
        if self._native is not None:
            self._table = self._native.ffi.new("fp_quiet_table *")
            self._table.epoch = 1
            self._grow(self._native, _FIRST_CAPACITY)

    @property
    def epoch(self) -> int:
        return int(self._table.epoch) if self._table is not None else self._ref_epoch

    def __len__(self) -> int:
        """Hosts settled now."""
        if self._table is None:
            return sum(e.epoch == self._ref_epoch for e in self._ref.values())
        epoch = self._table.epoch
        return sum(self._slots[i].key != 0 and self._slots[i].epoch == epoch
                   for i in range(self._table.capacity))

    def filter(self, batch: PuntBatch, switch_index: int) -> Filtered:
        if not 0 <= switch_index <= 0xFFFF:
            raise FrameError(f"switch index {switch_index} is not 16 bits")
        if self._native is None:
            counts = [0, 0, 0, 0]
            kept = quiet_ref.filter_records(self._ref, self._ref_epoch, batch.records,
                                            switch_index, counts)
            return Filtered(kept, *counts)
        records = batch.records
        if not isinstance(records, RecordBatch):
            raise FrameError("the C filter reads batches the C decoder made")
        n = len(records)
        native = self._native
        ffi = native.ffi
        kept = array("I", bytes(4 * n))
        counts = ffi.new("uint64_t[4]")
        data, starts, recs = records.raw()
        rc = native.lib.fp_quiet_filter(
            self._table, recs, n, ffi.from_buffer("uint8_t[]", data), len(data),
            ffi.from_buffer("uint32_t[]", starts), switch_index,
            ffi.from_buffer("uint32_t[]", kept, require_writable=True), counts)
        if rc < 0:
            raise NativeError(f"fp_quiet_filter returned {rc} for {n} frames")
        del kept[rc:]
        return Filtered(kept, counts[0], counts[1], counts[2], counts[3])

    def settle(self, key: int, where: int, ip: int) -> None:
        """The host `key` (host_key(vnet, mac)) is at rest at `where` with `ip` (0: none)."""
        if not 0 < key < 1 << 60 or not 0 <= where < 1 << 32 or not 0 <= ip < 1 << 32:
            raise FrameError(f"cannot settle {key:#x} at {where:#x} with {ip:#x}")
        if self._native is None:
            self._ref[key] = Entry(where, ip, self._ref_epoch)
            return
        rc = self._native.lib.fp_quiet_set(self._table, key, where, ip)
        if rc == _FP_E_CAPACITY:
            self._grow(self._native, 2 * self._table.capacity)
            rc = self._native.lib.fp_quiet_set(self._table, key, where, ip)
        if rc != 0:
            raise NativeError(f"fp_quiet_set returned {rc}")

    def forget(self, key: int) -> None:
        if self._native is None:
            self._ref.pop(key, None)
        else:
            self._native.lib.fp_quiet_forget(self._table, key)

    def forget_all(self) -> None:
        """No host is settled any more: the next frame of each comes through."""
        if self._native is None:
            self._ref.clear()
            self._ref_epoch += 1
            return
        if self._table.epoch == 0xFFFFFFFF:   # an epoch is never used twice
            self._slots = None
            self._table.epoch = 0
            self._grow(self._native, self._table.capacity)
        self._table.epoch += 1

    def _grow(self, native: Native, capacity: int) -> None:
        ffi = native.ffi
        slots = ffi.new("fp_quiet_entry[]", capacity)
        new = ffi.new("fp_quiet_table *", {"slots": slots, "capacity": capacity,
                                           "epoch": self._table.epoch})
        if self._slots is not None:
            rc = native.lib.fp_quiet_rehash(self._table, new)
            if rc != 0:
                raise NativeError(f"fp_quiet_rehash returned {rc}")
        self._table, self._slots = new, slots
