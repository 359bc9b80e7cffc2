"""Claims: one value unboxed, several in order, the oldest first."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctrl.control.claims import Claims


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 3), st.integers(0, 5)), max_size=40))
def test_claims_agree_with_lists(ops: list[tuple[bool, int, int]]) -> None:
    claims: Claims[int, int] = Claims()
    model: dict[int, list[int]] = {}
    for add, key, value in ops:
        if add:
            claims.add(key, value)
            model.setdefault(key, []).append(value)
        elif value in model.get(key, []):
            claims.remove(key, value)
            model[key].remove(value)
            if not model[key]:
                del model[key]
        for k in range(4):
            assert claims.all(k) == model.get(k, [])
            assert claims.first(k) == (model[k][0] if k in model else None)
        assert sorted(claims) == sorted(model) and len(claims) == len(model)


def test_removing_what_is_not_claimed_is_an_error() -> None:
    claims: Claims[str, int] = Claims()
    claims.add("a", 1)
    with pytest.raises(ValueError, match="does not claim"):
        claims.remove("a", 2)
    with pytest.raises(KeyError):
        claims.remove("b", 1)
