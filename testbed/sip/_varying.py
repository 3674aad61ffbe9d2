"""Cutting a message's text around the values that change from one message to the next.

A phone's REGISTERs, and a registrar's answers to them, repeat the same text but for a
few values: branch, tags, Call-ID, CSeq, credentials, a date. :func:`cut` splits the
text around those values, each found right after the text that names it; the text
left over (the *shape*) is a memo key for what was read of an earlier message of the
same shape (:mod:`._lazy`).
"""

from __future__ import annotations

import re

_PARAM_END_RE = re.compile(r"[^;,\s>]*")


def cut(text: str, prefixes: tuple[str, ...], optional: frozenset[str]) -> list[str] | None:
    """``text`` cut around its varying values: ``[text, value, text, value, ..., text]``
    in the order they come.

    Each value comes right after one of ``prefixes``: a parameter's (``;name=``) runs to
    the next ``;``, ``,``, ``>`` or white space, a header's (``\\r\\nName: ``) to the end
    of its line. None when a prefix comes twice, when one not ``optional`` is missing,
    or when one comes inside another's value.
    """
    find = text.find
    spans = []
    for prefix in prefixes:
        at = find(prefix)
        if at < 0:
            if prefix in optional:
                continue
            return None
        begin = at + len(prefix)
        if find(prefix, begin) >= 0:
            return None
        if prefix[0] == ";":
            finish = _PARAM_END_RE.match(text, begin).end()  # type: ignore[union-attr]
        else:
            finish = find("\r\n", begin)
            if finish < 0:
                finish = len(text)
        spans.append((begin, finish))
    spans.sort()
    parts: list[str] = []
    last = 0
    for begin, finish in spans:
        if begin < last:
            return None
        parts += (text[last:begin], text[begin:finish])
        last = finish
    parts.append(text[last:])
    return parts


def kinds_of(parts: list[str], prefixes: tuple[str, ...]) -> dict[str, int] | None:
    """Where each value of ``parts`` (from :func:`cut`) is, by the prefix before it."""
    where: dict[str, int] = {}
    for index in range(1, len(parts), 2):
        before = parts[index - 1]
        prefix = next((p for p in prefixes if before.endswith(p)), None)
        if prefix is None or prefix in where:
            return None
        where[prefix] = index
    return where


__all__ = ["cut", "kinds_of"]
