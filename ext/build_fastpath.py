"""cffi build script (out-of-line API mode) for ctrl._fastpath; wired in by setup.py."""

from __future__ import annotations

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
HEADER = (HERE / "fastpath.h").read_text()

ffibuilder = FFI()
# cdef takes the declarations without the preprocessor lines of the header.
ffibuilder.cdef("\n".join(
    line for line in HEADER.replace("FP_LLDP_ID_MAX", "32").splitlines()
    if not line.startswith("#") and "MOBILITY_FASTPATH_H" not in line
))
ffibuilder.set_source(
    "ctrl._fastpath",
    '#include "fastpath.h"',
    # Relative to the project folder, as setuptools wants (setup.py runs from there).
    sources=["ext/fastpath.c"],
    include_dirs=["ext"],
    extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra"],
)

if __name__ == "__main__":  # from the project folder: python ext/build_fastpath.py
    ffibuilder.compile(tmpdir=".", verbose=True)
