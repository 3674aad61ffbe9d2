"""The memo tables of the parsers, in one place so that they can be emptied together.

URIs, Vias, addresses and CSeqs are immutable values, and the same texts come back in
every message of a dialog or a registration, so each parser remembers its last
:data:`PARSE_CACHE_SIZE` results. The parser modules create their tables here
(:func:`memo_table`, :func:`memoised`), and :func:`clear_parse_caches` empties them all
without importing any parser: imports run one way, from the parsers to this module.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

PARSE_CACHE_SIZE = 4096
"""Distinct texts each memoised parser keeps: the URIs, Vias and addresses of the
messages in flight, and of the users a server sees again and again."""

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")
_R = TypeVar("_R")


class Memo(OrderedDict[_K, _V]):
    """A bounded memo table of immutable parsed values by their text.

    Unlike ``functools.lru_cache`` it can be told a value (:meth:`put`), so a layer
    that builds a header value can spare the next reader from parsing it again. Past
    ``size`` entries the oldest goes: the texts of the messages in flight stay.
    """

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: _K, value: _V) -> _V:
        if len(self) >= self.size:
            self.popitem(last=False)
        self[key] = value
        return value


# How to empty each table made here: Memo.clear or the lru_cache's cache_clear.
_CLEARS: list[Callable[[], None]] = []


def memo_table(size: int = PARSE_CACHE_SIZE) -> Memo[_K, _V]:
    """A new :class:`Memo` that :func:`clear_parse_caches` empties."""
    table: Memo[_K, _V] = Memo(size)
    _CLEARS.append(table.clear)
    return table


def memoised(parser: Callable[..., _R]) -> functools._lru_cache_wrapper[_R]:
    """``parser`` memoised by its arguments (``functools.lru_cache``, bounded), emptied
    by :func:`clear_parse_caches`."""
    cached = functools.lru_cache(maxsize=PARSE_CACHE_SIZE)(parser)
    _CLEARS.append(cached.cache_clear)
    return cached


def clear_parse_caches() -> None:
    """Empty the memo tables of the URI and header parsers (before a memory measurement)."""
    for clear in _CLEARS:
        clear()


__all__ = ["PARSE_CACHE_SIZE", "Memo", "clear_parse_caches", "memo_table", "memoised"]
