"""Freed C heap given back: RSS falls by what was freed in the middle of the heap."""

from __future__ import annotations

import os

from ctrl.control.heap import give_back


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_freed_heap_is_given_back() -> None:
    # 64 MB in blocks under glibc's mmap threshold, one block kept after them so that
    # the freed ones are a hole in the heap, not its top (which free() trims itself).
    blocks = [bytearray(100_000) for _ in range(640)]
    kept = bytearray(100_000)
    blocks.clear()
    before = _rss()
    assert give_back()
    assert before - _rss() > 32 << 20
    assert kept is not None
