"""What the tests of real guests share: whether libvirtd can run here, and a guest's
console read until it says it is up."""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import time
from pathlib import Path

from ctrl.vm.qemu import QEMU, READY


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root to start libvirtd as another user"
    if importlib.util.find_spec("libvirt") is None:
        return "libvirt-python is not installed"
    if shutil.which("libvirtd") is None:
        return "libvirtd is not installed (apt-get install libvirt-daemon " \
               "libvirt-daemon-driver-qemu)"
    if shutil.which(QEMU) is None:
        return f"{QEMU} is not installed (apt-get install qemu-system-x86)"
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return "no user 'nobody' to run libvirtd as"
    return None


def wait_console(path: Path, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and READY in path.read_bytes():
            return True
        time.sleep(0.1)
    return False
