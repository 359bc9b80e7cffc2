"""The C fast path under libFuzzer with AddressSanitizer and UndefinedBehaviorSanitizer.

Runs ext/fuzz/run.sh for FUZZ_SECONDS (default 30): half of it on the packet-in
parser, half on the P4Runtime Write decoder, a third each on the path engine, the
Write encoder and the quiet filter with proxy ARP answers (with fp_rows); fails on
any finding. Skipped, with the reason, where clang or its libFuzzer runtime is
missing. Select it alone with
`pytest tests/fastpath/test_fuzz.py` (or `-k fuzz`); a longer run on demand:
`FUZZ_SECONDS=600 pytest tests/fastpath/test_fuzz.py` or `ext/fuzz/run.sh 600`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

RUN_SH = Path(__file__).resolve().parents[2] / "ext" / "fuzz" / "run.sh"
SKIP = 77
SECONDS = int(os.environ.get("FUZZ_SECONDS", "30"))


@pytest.mark.timeout(2 * SECONDS + 300)  # the build, then 2 SECONDS of fuzzing
def test_fuzz_parse_p4rt_and_paths_find_nothing() -> None:
    seconds = SECONDS
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run([str(RUN_SH), str(seconds)], env=env, capture_output=True, text=True,
                          timeout=2 * seconds + 270, check=False)
    print(proc.stdout, proc.stderr, sep="\n")
    if proc.returncode == SKIP:
        pytest.skip(proc.stdout.strip().removeprefix("SKIP: "))
    assert proc.returncode == 0, f"the fuzzer found something:\n{proc.stdout}\n{proc.stderr}"
    assert "fuzz: no finding" in proc.stdout
