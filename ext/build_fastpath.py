"""cffi build script (out-of-line API mode) of the C fast path, the module ctrl._fastpath.

setup.py hands `ffibuilder` to cffi (`cffi_modules`), so the package install
builds it. By hand, from the project folder: `python ext/build_fastpath.py`
builds ctrl/_fastpath.abi3.so in place, the file `pip install -e .` makes.

The declarations given to cffi are the headers' text between `cdef-begin` and
`cdef-end`, so the C sources and the Python side read one definition.
"""

from __future__ import annotations

import os
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
HEADERS = ("fp_parse.h", "fp_punt.h", "fp_paths.h", "fp_p4rt.h", "fp_p4rt_enc.h", "fp_place.h")
SOURCES = ("fp_parse.c", "fp_punt.c", "fp_paths.c", "fp_p4rt.c", "fp_p4rt_check.c",
           "fp_p4rt_enc.c", "fp_place.c")


def cdef_text(header: Path) -> str:
    text = header.read_text()
    begin, end = text.index("/* cdef-begin"), text.index("/* cdef-end */")
    return text[text.index("\n", begin) + 1 : end]


ffibuilder = FFI()
for _name in HEADERS:
    ffibuilder.cdef(cdef_text(HERE / _name))
ffibuilder.set_source(
    "ctrl._fastpath",
    "\n".join(f'#include "{name}"' for name in HEADERS),
    # Relative to the project folder, where setup.py runs.
    sources=[f"ext/{name}" for name in SOURCES],
    include_dirs=["ext"],
    extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
)

if __name__ == "__main__":
    os.chdir(HERE.parent)
    ffibuilder.compile(tmpdir=".", target="_fastpath.abi3.so", verbose=True)
