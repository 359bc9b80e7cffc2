"""ctrl.lab.plot: throughput in readable bins, each migration marked with what it cost
and shown at 1 ms scale, the gaps no migration explains marked."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctrl.lab.plot import Window, figure, readable, save_plot, stalls, windows_of
from ctrl.lab.report import (
    Arrival,
    Chunk,
    Mark,
    Report,
    Series,
    TcpTrace,
    UdpTrace,
    build_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def stream(late: tuple[int, int] = (0, 0), lost: tuple[int, int] = (0, 0)) -> UdpTrace:
    """1,000 datagrams a second for 1 s: those of `late` arrive 30 ms late, those of
    `lost` never."""
    sends = [i / 1000 for i in range(1000)]
    arrived = [Arrival(i, t, t + 1e-4 + (0.03 if late[0] <= i < late[1] else 0))
               for i, t in enumerate(sends) if not lost[0] <= i < lost[1]]
    return UdpTrace("a -> b", 1000.0, sends, arrived)


def test_the_plot_has_both_panels_a_zoom_per_migration_and_is_a_png(tmp_path: Path) -> None:
    udp = stream(lost=(400, 600))
    tcp = TcpTrace("a -> b", 4e6, 4000, 0.0, 1.0,
                   [Chunk(i / 1000, 4) for i in range(1000) if not 400 <= i < 600], True, True)
    marks = [Mark("outage start", 0.4), Mark("outage end", 0.6)]
    report = build_report(a="a", b="b", started="", duration_s=1.0, udp=[udp], tcp=[tcp],
                          marks=marks)
    fig = figure(report)
    udp_ax, tcp_ax, *zooms = fig.axes
    assert "UDP packets/s" in udp_ax.get_ylabel() and "TCP Mbit/s" in tcp_ax.get_ylabel()
    assert "100 ms bins" in udp_ax.get_ylabel()
    labels = [t.get_text() for t in udp_ax.texts]
    assert labels == ["outage start: lost 200.0 ms, gap 201.0 ms",
                      "outage end: lost 200.0 ms, gap 201.0 ms"]
    assert len(zooms) == 2 and zooms[0].get_xlabel() == "ms from the VM's pause"
    assert "longest gap 201.0 ms" in fig.get_suptitle()
    path = save_plot(report, tmp_path / "probe.png")
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_without_tcp_or_migrations_there_is_one_panel(tmp_path: Path) -> None:
    udp = UdpTrace("a -> b", 100.0, [0.0, 0.01], [Arrival(0, 0.0, 0.001)])
    report = build_report(a="a", b="b", started="", duration_s=0.02, udp=[udp], tcp=[])
    assert len(figure(report).axes) == 1
    assert save_plot(report, tmp_path / "p.png").stat().st_size > 0


def test_readable_bins_are_the_mean_of_whole_groups() -> None:
    s = Series("udp a -> b", "packets/s", [1000.0] * 9 + [0.0] + [500.0] * 10 + [7.0] * 3)
    values, width = readable(s, 10.0)
    assert width == pytest.approx(0.1)
    assert values == [pytest.approx(900.0), pytest.approx(500.0)]   # the partial bin left out
    assert readable(s, 100.0) == (s.values, 0.1)                     # already that wide


def test_gaps_far_from_migrations_are_marked_late_or_lost() -> None:
    late = stream(late=(200, 230))                     # a stall: 30 ms late, nothing lost
    report = build_report(a="a", b="b", started="", duration_s=1.0, udp=[late], tcp=[])
    ((gap, lost),) = stalls(report, [])
    assert gap.at == pytest.approx(0.1991, abs=1e-3) and gap.ms > 29 and lost is False
    # the same gap inside a migration's window is the migration's, not marked
    assert stalls(report, [Window("m", 0.2, 0.0, 0.15, 0.7)]) == []
    lossy = build_report(a="a", b="b", started="", duration_s=1.0,
                         udp=[stream(lost=(500, 520))], tcp=[])
    ((gap, lost),) = stalls(lossy, windows_of(lossy))
    assert lost is True and gap.ms == pytest.approx(21.0, abs=0.5)


def test_windows_of_marks() -> None:
    report = Report("a", "b", "", 1.0, False, 10.0, [], [], [], [Mark("m", 0.3)])
    (w,) = windows_of(report)
    assert (w.label, w.at, w.pause_s) == ("m", 0.3, 0.0)
    assert w.start < 0.3 < w.end
