"""The compiled module ctrl._fastpath (ext/, cffi), loaded once, and the choice of backend.

The package install builds it (setup.py); where it did not, `load()` says so
once in the log and the callers in parse.py and paths.py answer with the
Python reference instead, with the same results.
"""

from __future__ import annotations

import enum
import importlib
import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

from ctrl.fastpath.errors import NotBuiltError
from ctrl.fastpath.layout import OFFSETS, RECORD_SIZE

log = logging.getLogger(__name__)



class Backend(enum.Enum):
    """Which code answers: the C module where built (AUTO), or one of the two by name."""

    AUTO = "auto"
    NATIVE = "native"
    REFERENCE = "reference"


@dataclass(frozen=True, slots=True)
class Native:
    """The cffi module's two halves; cdata never leaves this package's wrappers."""

    ffi: Any
    lib: Any
    alloc_records: Any  # ffi.new without zeroing, for the records the C parser clears itself


@cache
def load() -> Native | None:
    """ctrl._fastpath, imported on first use; None (logged once) where it is not built."""
    try:
        _fastpath = importlib.import_module("ctrl._fastpath")
    except ImportError as exc:
        log.warning("the C fast path (ctrl._fastpath) is not built (%s): packet-in parsing and "
                    "paths run on the Python reference, slower", exc)
        return None
    ffi = _fastpath.ffi
    wrong = [name for name, (offset, _) in OFFSETS.items()
             if ffi.offsetof("fp_record", *name.split(".")) != offset]
    if ffi.sizeof("fp_record") != RECORD_SIZE or wrong:
        log.warning("ctrl._fastpath was built from other sources (fp_record: %d bytes, fields "
                    "elsewhere: %s): using the Python reference", ffi.sizeof("fp_record"), wrong)
        return None
    return Native(ffi, _fastpath.lib, ffi.new_allocator(should_clear_after_alloc=False))


def native_available() -> bool:
    """Whether the C module is built and loads."""
    return load() is not None


def select(backend: Backend) -> Native | None:
    """The C module for `backend`, or None for the reference."""
    if backend is Backend.REFERENCE:
        return None
    native = load()
    if native is None and backend is Backend.NATIVE:
        raise NotBuiltError("the C fast path (ctrl._fastpath) is not built here")
    return native
