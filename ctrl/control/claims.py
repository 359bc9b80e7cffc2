"""A mapping of keys to the values that claim them, oldest first, for 100,000 of them: a
key one value claims (nearly all: a MAC, an address) holds that value itself, not a
list of one (88 bytes a host, twice). Pure."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Claims(Generic[K, V]):
    __slots__ = ("_map",)

    def __init__(self) -> None:
        self._map: dict[K, V | _Many[V]] = {}

    def __len__(self) -> int:
        return len(self._map)

    def __iter__(self) -> Iterator[K]:
        return iter(self._map)

    def __contains__(self, key: object) -> bool:
        return key in self._map

    def add(self, key: K, value: V) -> None:
        """`value` claims `key` too (after those that claimed it before)."""
        held = self._map.get(key, _NONE)
        if held is _NONE:
            self._map[key] = value
        elif isinstance(held, _Many):
            held.append(value)
        else:
            self._map[key] = _Many([held, value])   # type: ignore[list-item]

    def remove(self, key: K, value: V) -> None:
        """`value` no longer claims `key` (ValueError: it did not)."""
        held = self._map[key]
        if isinstance(held, _Many):
            held.remove(value)
            if len(held) == 1:
                self._map[key] = held[0]
        elif held == value:
            del self._map[key]
        else:
            raise ValueError(f"{value!r} does not claim {key!r}")

    def first(self, key: K) -> V | None:
        """The value that has claimed `key` longest (None: none does)."""
        held = self._map.get(key, _NONE)
        if held is _NONE:
            return None
        return held[0] if isinstance(held, _Many) else held   # type: ignore[return-value]

    def firsts(self) -> Iterator[tuple[K, V]]:
        """Each key and the value that has claimed it longest."""
        for key, held in self._map.items():
            yield key, (held[0] if isinstance(held, _Many) else held)

    def all(self, key: K) -> list[V]:
        held = self._map.get(key, _NONE)
        if held is _NONE:
            return []
        return list(held) if isinstance(held, _Many) else [held]   # type: ignore[list-item]


class _Many(list[V]):
    """Two values or more claim one key (a list, told apart from a value that is one)."""

    __slots__ = ()


_NONE: object = object()
