"""cpio "newc" archives read back, as the kernel reads them (for the initramfs tests)."""

from __future__ import annotations


def read_newc(data: bytes) -> list[tuple[str, int, bytes, tuple[int, int]]]:
    """(name, mode, data, rdev) of each member, read as the kernel reads them."""
    out: list[tuple[str, int, bytes, tuple[int, int]]] = []
    at = 0
    while True:
        assert data[at:at + 6] == b"070701"
        f = [int(data[at + 6 + 8 * i: at + 14 + 8 * i], 16) for i in range(13)]
        namesize, filesize = f[11], f[6]
        name = data[at + 110: at + 110 + namesize - 1].decode()
        at += 110 + namesize
        at += -at % 4
        body = data[at: at + filesize]
        at += filesize
        at += -at % 4
        if name == "TRAILER!!!":
            assert at == len(data)
            return out
        out.append((name, f[1], body, (f[9], f[10])))
