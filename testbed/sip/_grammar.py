"""Lexical pieces of the SIP grammar (RFC 3261 §25.1) shared by the parsers.

Everything here works on ``str`` (header sections are decoded once, as UTF-8 with
surrogate escapes so that any byte survives a round trip) and raises
:class:`RemoteProtocolError` with a reason that fits a 400 reason phrase.
"""

from __future__ import annotations

import re

from ._errors import RemoteProtocolError

# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")
TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
# gen-value = token / host / quoted-string: a host adds ":" "[" "]" (IPv6) to token chars.
_PARAM_VALUE_CHARS = TOKEN_CHARS | frozenset(":[]")
_WS = " \t"
# One ``SEMI generic-param`` and a whole ``*( SEMI generic-param )``: the fast path of
# parse_params. A quoted value keeps its quotes; a flag has no "=" (value "").
_PARAM = (r"[ \t]*;[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*"
          r"(?:=[ \t]*(\"(?:[^\"\\]|\\[\s\S])*\"|[A-Za-z0-9\-.!%*_+`'~:\[\]]+)[ \t]*)?")
_PARAM_RE = re.compile(_PARAM)
_PARAMS_RE = re.compile(f"(?:{_PARAM})*[ \t]*")

Params = tuple[tuple[str, "str | None"], ...]


def is_token(text: str) -> bool:
    """True when ``text`` is a non-empty RFC 3261 token."""
    return TOKEN_RE.fullmatch(text) is not None


def skip_ws(text: str, i: int) -> int:
    """Index of the first non-blank character at or after ``i``."""
    n = len(text)
    while i < n and text[i] in _WS:
        i += 1
    return i


def read_quoted(text: str, i: int) -> tuple[str, int]:
    """Read the quoted-string starting at ``text[i] == '"'``.

    Returns the unescaped content and the index just past the closing quote.
    RFC 3261 §25.1: quoted-pair = "\\" (any char but CR/LF).
    """
    out: list[str] = []
    n = len(text)
    j = i + 1
    start = j
    while j < n:
        ch = text[j]
        if ch == '"':
            out.append(text[start:j])
            return "".join(out), j + 1
        if ch == "\\":
            if j + 1 >= n:
                break
            out.append(text[start:j])
            out.append(text[j + 1])
            j += 2
            start = j
            continue
        j += 1
    raise RemoteProtocolError("Unterminated quoted string")


def quote(text: str) -> str:
    """Serialise ``text`` as a quoted-string, escaping ``"`` and ``\\``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def split_list(value: str, header: str) -> list[str]:
    """Split a ``#element`` header value on top-level commas.

    Commas inside quoted strings and ``<...>`` do not split. An empty element
    (``a,,b``) is a syntax error: RFC 3261 §7.3.1 allows no empty list items.
    """
    if '"' not in value:
        if "<" not in value:
            # Nothing can hide a comma: str.split gives the same items, at C speed.
            items = [item.strip() for item in value.split(",")]
            if "" in items:
                raise RemoteProtocolError(f"Empty element in {header}")
            return items
        if "," not in value and value.rfind(">") > value.rfind("<"):
            # One element (every "<" is closed): the common Contact or Route value.
            item = value.strip()
            return [item]
    return _split_list_scan(value, header)


def _split_list_scan(value: str, header: str) -> list[str]:
    """:func:`split_list` character by character (quotes and ``<...>`` hide commas)."""
    items: list[str] = []
    n = len(value)
    i = start = 0
    while i < n:
        ch = value[i]
        if ch == '"':
            _, i = read_quoted(value, i)
            continue
        if ch == "<":
            close = value.find(">", i)
            if close < 0:
                raise RemoteProtocolError(f"Unbalanced '<' in {header}")
            i = close + 1
            continue
        if ch == ",":
            items.append(value[start:i].strip())
            start = i + 1
        i += 1
    items.append(value[start:].strip())
    if any(not item for item in items):
        raise RemoteProtocolError(f"Empty element in {header}")
    return items


def parse_params(text: str, what: str) -> Params:
    """Parse ``*( SEMI generic-param )`` (RFC 3261 §25.1) into ``((name, value), ...)``.

    Blanks are allowed around ``;`` and ``=`` (SEMI and EQUAL carry SWS). Names are
    lower-cased (parameter names compare case-insensitively); values keep their case,
    and a quoted value keeps its quotes so that it serialises back unchanged.
    """
    if _PARAMS_RE.fullmatch(text):
        # The common case, in C: the regular expression accepts exactly what the loop
        # below accepts, which then only runs to name the error.
        return tuple((name.lower(), value or None) for name, value in _PARAM_RE.findall(text))
    return _parse_params_scan(text, what)


def _parse_params_scan(text: str, what: str) -> Params:
    """:func:`parse_params` character by character: the reference, and the error names."""
    params: list[tuple[str, str | None]] = []
    n = len(text)
    i = skip_ws(text, 0)
    while i < n:
        if text[i] != ";":
            raise RemoteProtocolError(f"Unexpected {text[i]!r} in {what} parameters")
        i = skip_ws(text, i + 1)
        j = i
        while j < n and text[j] in TOKEN_CHARS:
            j += 1
        if j == i:
            raise RemoteProtocolError(f"Empty parameter in {what}")
        name = text[i:j].lower()
        i = skip_ws(text, j)
        value: str | None = None
        if i < n and text[i] == "=":
            i = skip_ws(text, i + 1)
            if i < n and text[i] == '"':
                _, end = read_quoted(text, i)
                value = text[i:end]
                i = end
            else:
                j = i
                while j < n and text[j] in _PARAM_VALUE_CHARS:
                    j += 1
                if j == i:
                    raise RemoteProtocolError(f"Empty value for parameter {name!r} in {what}")
                value = text[i:j]
                i = j
        params.append((name, value))
        i = skip_ws(text, i)
    return tuple(params)


def format_params(params: Params) -> str:
    """Serialise parameters as ``;name=value;flag``."""
    return "".join(f";{name}" if value is None else f";{name}={value}" for name, value in params)


def get_param(params: Params, name: str) -> str | None:
    """Value of the first parameter ``name`` (``""`` for a flag without value, None if absent)."""
    name = name.lower()
    for key, value in params:
        if key == name:
            return "" if value is None else value
    return None


def set_param(params: Params, name: str, value: str | None) -> Params:
    """Return ``params`` with ``name`` set to ``value`` (replacing an existing one in place)."""
    name = name.lower()
    out = []
    done = False
    for key, old in params:
        if key == name:
            if not done:
                out.append((key, value))
                done = True
        else:
            out.append((key, old))
    if not done:
        out.append((name, value))
    return tuple(out)


def unquote_param(value: str | None) -> str | None:
    """A parameter value without its quotes, if it was a quoted-string."""
    if value is not None and value.startswith('"'):
        return read_quoted(value, 0)[0]
    return value


def parse_uint(text: str, what: str, maximum: int) -> int:
    """Parse ``1*DIGIT`` in ``0..maximum``; anything else is a 400 naming ``what``."""
    # Only SIP's linear white space (RFC 3261 §25.1): str.strip() would also drop
    # control characters such as \x1c-\x1f, which int() then refuses.
    text = text.strip(" \t")
    if not text.isascii() or not text.isdigit():
        raise RemoteProtocolError(f"Invalid {what}: {text[:40]!r}")
    number = int(text)
    if number > maximum:
        raise RemoteProtocolError(f"{what} out of range: {text[:40]}")
    return number
