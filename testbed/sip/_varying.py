"""Cutting a message's text around the values that change from one message to the next.

A phone's REGISTERs, and a registrar's answers to them, repeat the same text but for a
few values: branch, tags, Call-ID, CSeq, credentials, a date. A :class:`Cutter` splits
the text around those values, each found right after the text that names it (its
prefix); the text left over (the *shape*) is a memo key for what was read of an earlier
message of the same shape (:mod:`._lazy`).

One regular expression finds every value in one pass (``re.split``): searching for each
prefix in turn, twice to refuse a repeated one, cost twice as much per message.
"""

from __future__ import annotations

import re

_PARAM_VALUE = r"([^;,\s>]*)"  # a parameter's value runs to the next ; , > or blank
_LINE_VALUE = r"([^\r\n]*)"  # a header's, to the end of its line


class Cutter:
    """Cuts texts around the values that follow ``prefixes``: a parameter's
    (``;name=``) or a header's (``\\r\\nName: ``). ``optional`` prefixes may be absent.
    """

    def __init__(self, prefixes: tuple[str, ...], optional: frozenset[str] = frozenset()):
        self.prefixes = prefixes
        self.optional = optional
        self.width = len(prefixes) + 1
        """Items of :meth:`cut`'s list from one text to the next."""
        self._split = re.compile("|".join(
            re.escape(prefix) + (_PARAM_VALUE if prefix[0] == ";" else _LINE_VALUE)
            for prefix in prefixes)).split

    def cut(self, text: str) -> list[str | None]:
        """``text`` cut at each prefix with its value, leftmost first (a prefix inside
        another's value is part of that value): ``[text, *slots, text, *slots, ...,
        text]``, one slot per prefix after each text but the last, holding the value
        under its own prefix and None under the others. The texts are
        ``parts[::width]``; the prefixes themselves are in neither."""
        return self._split(text)

    def shape(self, parts: list[str | None]) -> str:
        """The shape of the text :meth:`cut` gave ``parts``: its texts, NUL between them
        (for a text without NUL of its own, the same shape means the same texts)."""
        return "\x00".join(parts[::self.width])  # type: ignore[arg-type]

    def where(self, parts: list[str | None]) -> dict[str, int] | None:
        """The index in ``parts`` of each prefix's value; None when a prefix comes
        twice or one not optional is missing."""
        found: dict[str, int] = {}
        prefixes = self.prefixes
        for index in range(1, len(parts), self.width):
            for offset, prefix in enumerate(prefixes):
                if parts[index + offset] is not None:
                    if prefix in found:
                        return None
                    found[prefix] = index + offset
                    break
        if any(p not in found and p not in self.optional for p in prefixes):
            return None
        return found


__all__ = ["Cutter"]
