"""Builds the C fast path (ext/, cffi out-of-line API mode) into the module ctrl._fastpath,
and generates the P4Runtime modules (package p4, into proto/p4) with proto/generate.py.

Everything else about the package is in pyproject.toml. The C build is
optional: if it fails (no compiler, no Python headers), the install goes on
with a warning, and the controller runs on the Python reference, saying so
once in its log (ctrl/fastpath/native.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_ext import build_ext
from setuptools.extension import Extension

_WARNING = ("WARNING: {} was not built: {}. Without ctrl._fastpath the controller parses "
            "packet-ins and computes paths with the Python reference; without "
            "ctrl._grpcstream (libgrpc-dev) it reads P4Runtime streams with grpcio.")


class OptionalBuildExt(build_ext):
    """build_ext that turns a failed compile into a warning instead of a failed install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # any compiler or platform error
            self._warn("the C extensions", exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # any compiler or platform error
            self._warn(ext.name, exc)

    @staticmethod
    def _warn(name: str, exc: Exception) -> None:
        print(_WARNING.format(name, f"{type(exc).__name__}: {exc}"), file=sys.stderr)


HERE = Path(__file__).resolve().parent
P4_PACKAGES = ["p4", "p4.config", "p4.config.v1", "p4.v1"]


def generate_p4_modules() -> None:
    """proto/generate.py into proto/p4, before setuptools looks for the package: every build
    hook runs in the build environment, where [build-system] put grpcio-tools and p4runtime."""
    sys.path.insert(0, str(HERE / "proto"))
    try:
        import generate
    finally:
        sys.path.pop(0)
    generate.generate(HERE / "proto")


generate_p4_modules()
setup(
    packages=find_packages(include=["ctrl*"]) + P4_PACKAGES,
    package_dir={"p4": "proto/p4"},
    cffi_modules=["ext/build_fastpath.py:ffibuilder", "ext/build_stream.py:ffibuilder"],
    cmdclass={"build_ext": OptionalBuildExt},
)
