"""Writes the fuzzer's seed inputs: one file per frame of tests/fastpath_frames.corpus().

Usage (from the project folder): python ext/fuzz/seeds.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fastpath.frames import corpus


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(corpus()):
        (out / f"seed-{i:02d}").write_bytes(frame)
        # The same frame behind a batch header (2 frames, cut in the middle).
        (out / f"seed-{i:02d}-batch").write_bytes(bytes([1, 128, 0]) + frame + frame)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
