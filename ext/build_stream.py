"""cffi build script (out-of-line API mode) of the P4Runtime stream read in C on gRPC's
C core (ext/fp_stream.h), the module ctrl._grpcstream.

A module of its own, apart from ctrl._fastpath: it links Debian's libgrpc
(libgrpc-dev), which the rest of the fast path does not need. setup.py hands
`ffibuilder` to cffi; where libgrpc-dev is missing the compile fails, setup.py's
OptionalBuildExt says so, and the client reads its stream with grpcio
(ctrl/p4rt/cstream.py). By hand: `python ext/build_stream.py`.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))   # cffi runs this file by path, not as a module
from build_fastpath import cdef_text  # noqa: E402

ffibuilder = FFI()
ffibuilder.cdef(cdef_text(HERE / "fp_stream.h"))
ffibuilder.set_source(
    "ctrl._grpcstream",
    '#include "fp_stream.h"',
    sources=["ext/fp_stream.c"],
    include_dirs=["ext"],
    libraries=["grpc", "gpr", "pthread"],
    extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
)

if __name__ == "__main__":   # in a scratch folder: setuptools refuses the project's own
    import tempfile
    project = HERE.parent
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(HERE, Path(tmp) / "ext")   # the sources' paths are relative
        built = ffibuilder.compile(tmpdir=tmp, target="_grpcstream.abi3.so", verbose=True)
        shutil.copy(built, project / "ctrl" / "_grpcstream.abi3.so")
