"""ctrl.lab.plot: a PNG of throughput over time, marks drawn."""

from __future__ import annotations

from pathlib import Path

from ctrl.lab.plot import figure, save_plot
from ctrl.lab.report import Arrival, Chunk, Mark, TcpTrace, UdpTrace, build_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_the_plot_has_both_panels_the_marks_and_is_a_png(tmp_path: Path) -> None:
    sends = [i / 1000 for i in range(1000)]
    arrived = [Arrival(i, t, t + 1e-4) for i, t in enumerate(sends) if not 400 <= i < 600]
    udp = UdpTrace("a -> b", 1000.0, sends, arrived)
    tcp = TcpTrace("a -> b", 4e6, 4000, 0.0, 1.0,
                   [Chunk(i / 1000, 4) for i in range(1000) if not 400 <= i < 600], True, True)
    marks = [Mark("outage start", 0.4), Mark("outage end", 0.6)]
    report = build_report(a="a", b="b", started="", duration_s=1.0, udp=[udp], tcp=[tcp],
                          marks=marks)
    fig = figure(report)
    udp_ax, tcp_ax = fig.axes
    assert "UDP packets/s" in udp_ax.get_ylabel() and "TCP Mbit/s" in tcp_ax.get_ylabel()
    assert [t.get_text() for t in udp_ax.texts] == ["outage start", "outage end"]
    assert "longest gap 201.0 ms" in fig.get_suptitle()
    path = save_plot(report, tmp_path / "probe.png")
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_without_tcp_there_is_one_panel(tmp_path: Path) -> None:
    udp = UdpTrace("a -> b", 100.0, [0.0, 0.01], [Arrival(0, 0.0, 0.001)])
    report = build_report(a="a", b="b", started="", duration_s=0.02, udp=[udp], tcp=[])
    assert len(figure(report).axes) == 1
    assert save_plot(report, tmp_path / "p.png").stat().st_size > 0
