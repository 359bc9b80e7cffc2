"""finsy against a fresh switch, as its users drive it: run by test_finsy.py in finsy's own
virtualenv (it pins its own protobuf and grpcio), so it imports finsy and the
standard library only.

    .venv-finsy/bin/python finsy_drive.py ADDRESS P4INFO BMV2_JSON

Connects (finsy pushes the pipeline: the switch has none), writes 1,000 bridging
entries, reads them back, reads the table's direct counters (wildcard and one entry),
sends a packet out of port 1 that comes back in on port 2 (the two ends of one veth
pair) and is punted, inserts a duplicate, deletes it all. It prints what it saw as
one JSON object; the test judges it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import finsy as fy

N = 1000
VNET = 10
ARP = bytes.fromhex("ffffffffffff" "020000000001" "0806"
                    "0001080006040001" "020000000001" "0a000001" "000000000000" "0a000002")


def _mac(i: int) -> str:
    return ":".join(f"{b:02x}" for b in (0x020000100000 + i).to_bytes(6, "big"))


def _entries() -> list[Any]:
    return [fy.P4TableEntry("bridging", match=fy.Match(vnet_id=VNET, eth_dst=_mac(i)),
                            action=fy.Action("bridging.forward", port=1 + i % 2))
            for i in range(N)]


def _wire(entries: list[Any], schema: Any) -> list[bytes]:
    """The entries as P4Runtime TableEntry bytes, in order."""
    return sorted(e.encode_entry(schema).SerializeToString() for e in entries)


async def _drive(sw: Any) -> dict[str, Any]:
    seen: dict[str, Any] = {"primary": sw.is_primary}
    entries = _entries()
    await sw.insert(entries)
    got = [e async for e in sw.read(fy.P4TableEntry("bridging"))]
    seen["read"] = len(got)
    seen["read_same"] = _wire(got, sw.p4info) == _wire(entries, sw.p4info)
    counters = [c async for c in sw.read(fy.P4DirectCounterEntry("bridging_counter"))]
    seen["direct_counters"] = len(counters)
    seen["direct_counter_tables"] = sorted({c.table_id for c in counters})
    one = [c async for c in sw.read(fy.P4DirectCounterEntry(table_entry=entries[0]))]
    seen["one_counter"] = [(c.table_entry.match["eth_dst"], c.packet_count) for c in one]

    await sw.insert([
        fy.P4TableEntry("ingress_port", match=fy.Match(ingress_port=2),
                        action=fy.Action("ingress_port.set_access", vnet_id=VNET)),
        fy.P4TableEntry("punt", match=fy.Match(ether_type=0x0806, ip_proto=0, l4_dst_port=0),
                        action=fy.Action("punt.to_cpu", reason=1)),
    ])
    packets = sw.read_packets()
    first = asyncio.ensure_future(anext(packets))
    await asyncio.sleep(0.2)  # read_packets' queue is open once it is awaited
    await sw.write([fy.P4PacketOut(ARP, egress_port=1, mcast_grp=0, _pad=0)])
    pkt = await asyncio.wait_for(first, 10)
    seen["packet_in"] = {"same_payload": pkt.payload == ARP,
                         "ingress_port": pkt["ingress_port"], "reason": pkt["reason"]}
    counted = [c async for c in sw.read(fy.P4DirectCounterEntry("punt_counter"))]
    seen["punt_packets"] = sum(c.packet_count for c in counted)

    try:
        await sw.insert([entries[0]])
        seen["duplicate"] = "accepted"
    except fy.P4ClientError as exc:
        seen["duplicate"] = sorted({e.canonical_code.name for e in exc.details.values()})
    await sw.delete(entries)
    seen["after_delete"] = len([e async for e in sw.read(fy.P4TableEntry("bridging"))])
    return seen


async def main(address: str, p4info: Path, p4blob: Path) -> dict[str, Any]:
    options = fy.SwitchOptions(p4info=p4info, p4blob=p4blob)
    async with fy.Switch("ovs", address, options) as sw:
        return await _drive(sw)


if __name__ == "__main__":
    result = asyncio.run(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
    print(json.dumps(result))
