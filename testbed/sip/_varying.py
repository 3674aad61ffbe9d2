"""Cutting a message's text around the values that change from one message to the next.

A phone's REGISTERs, and a registrar's answers to them, repeat the same text but for a
few values: branch, tags, Call-ID, CSeq, credentials, a date. A :class:`Cutter` splits
the text around those values, each found right after the text that names it (its
prefix): a header's (``\\r\\nName: ``, the value runs to the end of its line) or a
parameter's (``;name=``, to the next ``;``, ``,``, ``>`` or blank). The text left over
(the *shape*) is a memo key for what was read of an earlier message of the same shape
(:mod:`._lazy`).

Two passes of a regular expression (``re.split``) find the values: first the headers',
every prefix of them starting with a line end, then the parameters' in what is left,
every prefix of them starting with ``;``. A pattern that starts with one character is
searched for from one occurrence of it to the next; one that starts with either of two
is tried at every character: searching for both kinds in one pass cost 40% more
instructions, and so did searching for each prefix in turn (``str.find``).
"""

from __future__ import annotations

import re

_PARAM_VALUE = r"([^;,\s>]*)"
_LINE_VALUE = r"([^\r\n]*)"
_LINE_END = "\r\n"


def _alternatives(first: str, prefixes: tuple[str, ...], value: str) -> re.Pattern[str]:
    """``first`` then any of ``prefixes`` (less their ``first``), its value captured."""
    if not prefixes:
        return re.compile("(?!)")  # splits nothing
    rest = "|".join(re.escape(p.removeprefix(first)) + value for p in prefixes)
    return re.compile(f"{re.escape(first)}(?:{rest})")


class Cutter:
    """Cuts texts around the values that follow ``prefixes``: a header's (``\\r\\nName: ``)
    or a parameter's (``;name=``). ``optional`` prefixes may be absent.
    """

    def __init__(self, prefixes: tuple[str, ...], optional: frozenset[str] = frozenset()):
        lines = tuple(p for p in prefixes if p.startswith(_LINE_END))
        params = tuple(p for p in prefixes if p.startswith(";"))
        if len(lines) + len(params) != len(prefixes):
            raise ValueError("a prefix starts with a line end or ';'")
        self.prefixes = prefixes
        self.optional = optional
        self._lines, self._params = lines, params
        self._line_width, self._param_width = len(lines) + 1, len(params) + 1
        self._split_lines = _alternatives(_LINE_END, lines, _LINE_VALUE).split
        self._split_params = _alternatives(";", params, _PARAM_VALUE).split

    def cut(self, text: str) -> tuple[str, list[str | None]]:
        """``text``'s shape, and its values in their slots.

        The header values are cut out first (a parameter prefix inside one is part of
        it), the lines around them joined again with an empty line (which no message's
        head has: a shape tells them apart), then the parameter values. Each split
        gives ``[text, *slots, text, *slots, ..., text]``, one slot per prefix of its
        kind, the value under its own prefix and None under the others; the list
        returned is the parameters' split, then the headers'. The shape is the
        texts of the parameters' split (a NUL between them: a text with a NUL has no
        shape of its own, see :mod:`._lazy`).
        """
        lines = self._split_lines(text)
        params = self._split_params(_LINE_END.join(lines[::self._line_width]))
        return "\x00".join(params[::self._param_width]), params + lines

    def where(self, text: str) -> dict[str, int] | None:
        """The index of each prefix's value in :meth:`cut`'s list for ``text``; None when
        a prefix comes twice or one not optional is missing."""
        lines = self._split_lines(text)
        params = self._split_params(_LINE_END.join(lines[::self._line_width]))
        found: dict[str, int] = {}
        for start, parts, width, prefixes in ((0, params, self._param_width, self._params),
                                              (len(params), lines, self._line_width,
                                               self._lines)):
            for index in range(1, len(parts), width):
                for offset, prefix in enumerate(prefixes):
                    if parts[index + offset] is not None:
                        if prefix in found:
                            return None
                        found[prefix] = start + index + offset
                        break
        if any(p not in found and p not in self.optional for p in self.prefixes):
            return None
        return found


__all__ = ["Cutter"]
