"""p4runtime-shell as its users drive it, in its own virtualenv (it pins protobuf 3.20.3;
the project is on protobuf 6): `./run setup` makes .venv-p4shell. It imports the shell and
the standard library only (run with -P: tests/ holds a package named platform), and answers
one JSON line per JSON line read:

    .venv-p4shell/bin/python p4shell_drive.py P4INFO BMV2_JSON

{"op": "connect", "addr": A, "device_id": D, "election_low": E}: the shell's setup, which
sets the pipeline; {"op": "insert", "entries": [[vnet_id, eth_dst, port], ...]}: one Write
each (bridging.forward); {"op": "read"}: the bridging entries, as [vnet_id, eth_dst, port];
{"op": "delete_all"}; {"op": "messages", "entries": ..., "swap": [bool, ...]}: the shell's
TableEntry messages, unsent, as a WriteRequest's bytes in hex (match fields set in the
order asked); {"op": "close"}. Each answer is {"ok": ...} or {"error": "..."}.
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any


def _entry(sh: Any, vnet: int, mac: int, port: int, swap: bool = False) -> Any:
    te = sh.TableEntry("bridging")(action="bridging.forward")
    fields = [("vnet_id", str(vnet)), ("eth_dst", hex(mac))]
    for name, value in reversed(fields) if swap else fields:
        te.match[name] = value
    te.action["port"] = str(port)
    return te


def _as_triple(te: Any) -> list[int]:
    m = te.msg()
    values = {fm.field_id: int.from_bytes(fm.exact.value, "big") for fm in m.match}
    port = int.from_bytes(m.action.action.params[0].value, "big")
    return [values[1], values[2], port]


def handle(sh: Any, p4info: str, bmv2_json: str, req: dict[str, Any]) -> Any:
    op = req["op"]
    if op == "connect":
        sh.setup(device_id=req["device_id"], grpc_addr=req["addr"],
                 election_id=(0, req.get("election_low", 1)),
                 config=sh.FwdPipeConfig(p4info, bmv2_json), verbose=False)
        return True
    if op == "insert":
        for vnet, mac, port in req["entries"]:
            _entry(sh, vnet, mac, port).insert()
        return len(req["entries"])
    if op == "read":
        return [_as_triple(te) for te in sh.TableEntry("bridging").read()]
    if op == "delete_all":
        got = list(sh.TableEntry("bridging").read())
        for te in got:
            te.delete()
        return len(got)
    if op == "messages":
        from p4.v1 import p4runtime_pb2

        sh.context.set_p4info(_p4info(p4info))
        out = p4runtime_pb2.WriteRequest(device_id=1)
        swaps = req.get("swap", [False] * len(req["entries"]))
        for (vnet, mac, port), swap in zip(req["entries"], swaps, strict=True):
            te = _entry(sh, vnet, mac, port, swap)
            out.updates.add(type=p4runtime_pb2.Update.INSERT).entity.table_entry.CopyFrom(
                te.msg())
        return out.SerializeToString().hex()
    if op == "close":
        sh.teardown()
        return True
    raise ValueError(f"unknown op {op!r}")


def _p4info(path: str) -> Any:
    from google.protobuf import text_format
    from p4.config.v1 import p4info_pb2

    info = p4info_pb2.P4Info()
    with open(path, encoding="utf-8") as f:
        text_format.Parse(f.read(), info)
    return info


def main() -> None:
    import p4runtime_sh.shell as sh

    p4info, bmv2_json = sys.argv[1], sys.argv[2]
    for line in sys.stdin:
        try:  # what the shell prints goes to stderr: stdout carries the answers only
            with contextlib.redirect_stdout(sys.stderr):
                answer = {"ok": handle(sh, p4info, bmv2_json, json.loads(line))}
        except Exception as exc:  # reported to the test, which fails with it
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
