"""ctrl.lab.pacing and ctrl.lab.pattern: the schedule a probe sends to, the bytes it sends."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctrl.lab import pattern
from ctrl.lab.pacing import Pacer


def test_late_wake_ups_do_not_shift_the_schedule() -> None:
    pacer = Pacer(1000.0, start=10.0)
    assert pacer.delay(0, 9.9995) == pytest.approx(0.0005)
    assert pacer.delay(5, 10.0058) == 0.0  # woke 0.8 ms late: send now...
    assert pacer.delay(6, 10.0058) == pytest.approx(0.0002)  # ...and the next one on time
    assert pacer.due(1_000_000) == pytest.approx(1010.0)  # a million later: still no drift


def test_without_a_lag_bound_a_late_sender_catches_up() -> None:
    pacer = Pacer(1000.0, start=0.0)
    assert [pacer.delay(n, 0.05) for n in range(50)] == [0.0] * 50
    assert pacer.delay(50, 0.05) == 0.0
    assert pacer.delay(51, 0.05) == pytest.approx(0.001)


def test_a_lag_bound_forgoes_the_backlog() -> None:
    pacer = Pacer(1e6, start=0.0, max_lag=0.1)  # bytes/s
    assert pacer.delay(0, 1.0) == 0.0  # a second behind: the schedule moves up
    assert pacer.due(0) == pytest.approx(0.9)
    assert pacer.delay(200_000, 1.0) == pytest.approx(0.1)  # 0.1 s worth, no more


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Pacer(0.0, start=0.0)


@given(st.integers(0, 10**9), st.integers(0, pattern.PERIOD))
def test_the_pattern_matches_itself_anywhere(offset: int, size: int) -> None:
    assert pattern.matches(offset, pattern.window(offset, size))


@given(st.integers(0, 10**6), st.integers(16, 3 * pattern.PERIOD), st.integers(1, 1000))
def test_a_shifted_piece_does_not_match(offset: int, size: int, shift: int) -> None:
    data = bytearray()
    while len(data) < size:
        data += pattern.window(offset + shift + len(data), min(pattern.PERIOD, size - len(data)))
    assert pattern.matches(offset + shift, data)
    assert not pattern.matches(offset, data)
