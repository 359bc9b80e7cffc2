"""The quiet filter: which punted frames of a batch can change anything, told in C
without a Python object per frame (ext/fp_punt.h has the rules).

    quiet = QuietFilter(sites=[0, 0, 1])        # each switch index's site: proxy ARP on
    f = quiet.filter(batch, switch_index)       # f.kept: indices of the frames to look at
    quiet.settle(host_key(vnet, mac), switch_index << 16 | port, ip)   # a host at rest
    quiet.own(vnet, ip, host_key(vnet, mac))    # the host the controller answers ip with
    quiet.forget(key); quiet.forget_all()       # its next frame, or everyone's, comes through

With `sites`, the ARP requests of settled hosts for an address owned by a settled host
in the same site are answered here (f.replies, f.reply_ports: the frames
ctrl/punt/frames.py's arp_reply makes, end to end), not kept.

A host is settled by its owner (the control core) when a frame of it where it is would
change nothing; the owner forgets it, or everyone, as soon as that may no longer hold.
quiet_ref.py is the same in Python, used where the C module is not built.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ctrl.fastpath import quiet_ref
from ctrl.fastpath.errors import FrameError, NativeError
from ctrl.fastpath.native import Backend, Native, select
from ctrl.fastpath.parse import RecordBatch
from ctrl.fastpath.quiet_ref import ADDR, REPLY_LEN, Answers, Entry, addr_key, host_key
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
    answered: int = 0   # settled hosts' ARP requests answered: the replies follow
    replies: bytes = b""   # REPLY_LEN bytes each, in the order of their requests
    reply_ports: array[int] = field(default_factory=lambda: array("I"))   # in ports


class QuietFilter:
    __slots__ = ("_native", "_ref", "_ref_epoch", "_sites", "_slots", "_table")

    def __init__(self, backend: Backend = Backend.AUTO, sites: Sequence[int] | None = None
                 ) -> None:
        """`sites`: the site of each switch index, for proxy ARP here (None: none)."""
        if sites is not None and not all(0 <= s <= 0xFFFF for s in sites):
            raise FrameError("a site is a number of 16 bits")
        self._sites = None if sites is None else array("H", sites)
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
            return sum(e.epoch == self._ref_epoch for k, e in self._ref.items() if k < ADDR)
        epoch = self._table.epoch
        return sum(0 < self._slots[i].key < ADDR and self._slots[i].epoch == epoch
                   for i in range(self._table.capacity))

    def filter(self, batch: PuntBatch, switch_index: int) -> Filtered:
        if not 0 <= switch_index <= 0xFFFF:
            raise FrameError(f"switch index {switch_index} is not 16 bits")
        sites = self._sites
        if self._native is None:
            c = [0, 0, 0, 0, 0]
            answers = None if sites is None else Answers(sites)
            kept = quiet_ref.filter_records(self._ref, self._ref_epoch, batch.records,
                                            switch_index, c, answers)
            if answers is None or not answers.ports:
                return Filtered(kept, c[0], c[1], c[2], c[3])
            return Filtered(kept, c[0], c[1], c[2], c[3], c[4], bytes(answers.frames),
                            answers.ports)
        records = batch.records
        if not isinstance(records, RecordBatch):
            raise FrameError("the C filter reads batches the C decoder made")
        n = len(records)
        native = self._native
        ffi = native.ffi
        kept = array("I", bytes(4 * n))
        counts = ffi.new("uint64_t[5]")
        data, starts, recs = records.raw()
        ans = ffi.NULL
        held: tuple[object, ...] = ()   # the buffers C writes into, alive through the call
        if sites is not None and n:
            frames = bytearray(REPLY_LEN * n)
            ports = array("I", bytes(4 * n))
            held = (ffi.from_buffer("uint16_t[]", sites),
                    ffi.from_buffer("uint8_t[]", frames, require_writable=True),
                    ffi.from_buffer("uint32_t[]", ports, require_writable=True))
            ans = ffi.new("fp_quiet_answers *", {
                "sites": held[0], "n_sites": len(sites), "frames": held[1],
                "ports": held[2]})
        rc = native.lib.fp_quiet_filter(
            self._table, recs, n, ffi.from_buffer("uint8_t[]", data), len(data),
            ffi.from_buffer("uint32_t[]", starts), switch_index,
            ffi.from_buffer("uint32_t[]", kept, require_writable=True), counts, ans)
        if rc < 0:
            raise NativeError(f"fp_quiet_filter returned {rc} for {n} frames")
        kept = kept[:rc]   # a copy: no resizing of an array C was handed
        if ans == ffi.NULL or not ans.n:
            return Filtered(kept, counts[0], counts[1], counts[2], counts[3])
        answered = int(ans.n)
        return Filtered(kept, counts[0], counts[1], counts[2], counts[3], counts[4],
                        bytes(frames[:REPLY_LEN * answered]), ports[:answered])

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

    def own(self, vnet: int, ip: int, owner: int) -> None:
        """`ip` in virtual network `vnet` is answered with the host `owner`'s MAC while
        that host is settled with that address (an ARP request for it, from a settled
        host of the same site, is answered by the filter)."""
        if not 0 <= vnet <= 0xFFF or not 0 < ip < 1 << 32 or not 0 < owner < ADDR:
            raise FrameError(f"cannot give {ip:#x} in network {vnet} to {owner:#x}")
        if self._native is None:
            self._ref[addr_key(vnet, ip)] = Entry(0, ip, self._ref_epoch, owner)
            return
        rc = self._native.lib.fp_quiet_own(self._table, vnet, ip, owner)
        if rc == _FP_E_CAPACITY:
            self._grow(self._native, 2 * self._table.capacity)
            rc = self._native.lib.fp_quiet_own(self._table, vnet, ip, owner)
        if rc != 0:
            raise NativeError(f"fp_quiet_own returned {rc}")

    def disown(self, vnet: int, ip: int) -> None:
        """`ip` in `vnet` answered by no settled host's entry any more (the core answers)."""
        self.forget(addr_key(vnet, ip))

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
