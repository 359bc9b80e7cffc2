"""Writes the quiet filter fuzzer's seed inputs (ext/fuzz/fuzz_quiet.c reads them): a
table of settled hosts and owned addresses, then batches of ARP requests a settled
host's owner answers, ARP replies, gratuitous ARP, RARP, LLDP, DHCP and cut frames.

Usage (from the project folder): python ext/fuzz/seeds_quiet.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fastpath.frames import arp_frame, corpus, lldp_frame

MAC0, IP0 = 0x020000000001, 0x0A000001
SETTLE, OWN, FORGET, NEW_EPOCH = range(4)


def op(kind: int, vnet: int, mac: int, switch: int = 0, port: int = 0, ip: int = 0,
       addr: int = 0, owner_vnet: int = 0) -> bytes:
    """One table op; ip and addr index the harness's IPS (ip 0: none; addr 0..3 is
    IPS[1 + addr])."""
    return bytes([kind | vnet << 2 | mac << 4, switch | port << 3 | (ip & 3) << 6,
                  addr | owner_vnet << 2 | (ip >> 2) << 7])


def header(switch: int, ops: list[bytes], sites: tuple[int, ...] = (0, 0, 1, 1),
           second_call: bool = False) -> bytes:
    site_bits = sum(s << (2 * k) for k, s in enumerate(sites))
    return bytes([switch | second_call << 3 | len(ops) << 4, site_bits]) + b"".join(ops)


def mode(port: int, vnet: int, *, raw: bool, no_meta: bool = False,
         bridging: bool = False) -> int:
    return port | vnet << 3 | no_meta << 5 | bridging << 6 | raw << 7


def raw(frame: bytes, port: int = 1, vnet: int = 1, **kw: bool) -> bytes:
    frame = frame[:255 + 255]   # a length byte; 255: 255 + the next byte
    n = len(frame)
    size = bytes([n]) if n < 255 else bytes([255, n - 255])
    return bytes([mode(port, vnet, raw=True, **kw)]) + size + frame


def compact(oper: int, mac: int, spa: int, tpa: int, port: int = 1, vnet: int = 1, *,
            rarp: bool = False, garp: bool = False, cut: int | None = None) -> bytes:
    head = bytes([mode(port, vnet, raw=False), oper | rarp << 3 | garp << 4 | mac << 6,
                  spa | tpa << 3 | (cut is not None) << 6])
    return head + (bytes([cut]) if cut is not None else b"")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    # host (1, mac 0) at switch 0 port 1 with IPS[1]; host (1, mac 1) at switch 1 port 2
    # with IPS[2], owner of it; switches 0 and 1 in site 0.
    table = [op(SETTLE, 1, 0, 0, 1, ip=1), op(SETTLE, 1, 1, 1, 2, ip=2),
             op(OWN, 1, 1, addr=1, owner_vnet=1)]
    request = arp_frame(1, MAC0, IP0, 0, IP0 + 1)
    seeds = {
        "answered-compact": header(0, table) + compact(1, 0, 1, 2),
        "answered-raw": header(0, table) + raw(request),
        "answered-twice": header(0, table, second_call=True) + compact(1, 0, 1, 2) * 2,
        "other-site": header(2, table) + compact(1, 0, 1, 2),
        "after-new-epoch": header(0, [*table, op(NEW_EPOCH, 0, 0)]) + compact(1, 0, 1, 2),
        "after-rehash": header(0, [op(SETTLE, 2, 3, 0, 1), op(FORGET, 2, 3), *table,
                                   op(NEW_EPOCH, 1, 0)]) + compact(1, 0, 1, 2),
        "owner-forgotten": header(0, [*table, op(FORGET, 1, 1)]) + compact(1, 0, 1, 2),
        "mixed": header(0, table) + compact(2, 1, 2, 1, port=2) + compact(1, 0, 0, 2)
        + compact(3, 0, 0, 0, rarp=True) + compact(1, 0, 1, 1, garp=True)
        + raw(lldp_frame(), port=3) + raw(lldp_frame(), port=3) + compact(1, 0, 1, 2),
        "cut": header(0, table) + compact(1, 0, 1, 2, cut=30) + raw(request[:41])
        + compact(1, 0, 1, 2),
        "no-meta-bridging": header(0, table) + raw(request, no_meta=True)
        + raw(request, bridging=True) + compact(1, 0, 1, 2),
        "zero-vnet": header(0, table) + raw(request, vnet=0) + compact(1, 0, 1, 2),
    }
    for i, frame in enumerate(corpus()):
        seeds[f"corpus-{i:02d}"] = header(0, table) + raw(frame) + compact(1, 0, 1, 2)
    for name, data in seeds.items():
        (out / f"seed-{name}").write_bytes(data)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
