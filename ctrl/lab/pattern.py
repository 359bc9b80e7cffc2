"""The byte pattern a probe's TCP stream carries, so the reader can check every byte.

Byte i of the stream is BLOCK[i % len(BLOCK)]; the block's length is prime, so
no chunk size lines up with it, and its bytes are pseudo-random, so a shifted,
repeated or missing piece does not match.
"""

from __future__ import annotations

import random

PERIOD = 65521  # the largest prime below 2**16
BLOCK = random.Random(0x5EED).randbytes(PERIOD)
_TWICE = memoryview(BLOCK * 2)


def window(offset: int, size: int) -> memoryview:
    """The `size` (at most PERIOD) pattern bytes from stream offset `offset`."""
    if not 0 <= size <= PERIOD:
        raise ValueError(f"a window has 0..{PERIOD} bytes, not {size}")
    start = offset % PERIOD
    return _TWICE[start:start + size]


def matches(offset: int, data: bytes | bytearray | memoryview) -> bool:
    """Whether `data` is the pattern from stream offset `offset`."""
    view = memoryview(data)
    return all(view[i:i + PERIOD] == window(offset + i, len(view[i:i + PERIOD]))
               for i in range(0, len(view), PERIOD))
