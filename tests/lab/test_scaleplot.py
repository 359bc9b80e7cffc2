"""The README's scale plot drawn from bench/bench_scale.py's figures."""

from __future__ import annotations

from pathlib import Path

from ctrl.lab.scaleplot import plot

PNG = b"\x89PNG\r\n\x1a\n"


def test_both_panels_drawn_from_the_benchmarks_figures(tmp_path: Path) -> None:
    doc = {"storm": {"10": {"total_ms": 40.0, "p50_ms": 20.0},
                     "1000": {"total_ms": 900.0, "p50_ms": 400.0}},
           "cold_start": {"1000": {"rss_mb": 120.0, "peak_mb": 130.0},
                          "100000": {"rss_mb": 280.0, "peak_mb": 310.0}}}
    out = tmp_path / "scale.png"
    plot(doc, out)
    assert out.read_bytes().startswith(PNG)


def test_a_run_with_one_part_only_still_plots(tmp_path: Path) -> None:
    out = tmp_path / "scale.png"
    plot({"cold_start": {"1000": {"rss_mb": 120.0, "peak_mb": 130.0}}}, out)
    assert out.read_bytes().startswith(PNG)
    plot({}, out)   # nothing measured yet: empty axes, no error
    assert out.stat().st_size > 0
