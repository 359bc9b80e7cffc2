"""The lab's migrations for the controller's placement engine: one process, started once.

`ctrl lab up` starts the controller with `--placement-actuator lab:STATE_DIR`; its
actuator (ctrl/placement/actuate.py) runs `ctrl lab --state-dir STATE_DIR mover` once,
in a process of its own
(a migration's pause is not held up by the controller's interpreter), and asks it for
one migration at a time, a JSON line each way:

    {"vm": "game-server", "to": "vmhost-packard", "cause": "placement"}
    {"ok": true, "line": "game-server: vmhost-gates -> vmhost-packard ...", "pause_ms": 4.1}
    {"ok": false, "error": "game-server is at vmhost-packard already"}

Each is `ctrl lab migrate`'s (ctrl/lab/migrate.py: announced, the lab's state locked
while it runs); started once, it answers without an interpreter's start-up and imports
(seconds on a busy machine). It ends when its input does.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from ctrl.errors import MobilityError
from ctrl.lab.state import LabState


def serve(state_dir: Path, lines: object = sys.stdin, out: object = sys.stdout) -> None:
    from ctrl.lab.migrate import migrate

    for raw in lines:  # type: ignore[attr-defined]
        try:
            req = json.loads(raw)
            vm, to, cause = str(req["vm"]), str(req["to"]), str(req.get("cause", "operator"))
        except (ValueError, KeyError, TypeError) as exc:
            reply: dict[str, object] = {"ok": False, "error": f"not a request: {exc}"}
        else:
            try:
                state = LabState.load(state_dir)
                if state is None:
                    raise MobilityError(f"no lab is up in {state_dir}")
                m = migrate(state, vm, to, announce=True, cause=cause)
                reply = {"ok": True, "pause_ms": round(m.downtime * 1e3, 3),
                         "line": f"{m.host}: {m.src} -> {m.dst} (announced, {cause}); its "
                                 f"pause: {m.downtime * 1e3:.1f} ms"}
            except MobilityError as exc:
                reply = {"ok": False, "error": str(exc)}
            except Exception as exc:   # answered, not fatal: the next request is served
                logging.getLogger(__name__).exception("migrating %s to %s", vm, to)
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")  # type: ignore[attr-defined]
        out.flush()  # type: ignore[attr-defined]

