"""Header fields: names, the ordered container, and the structured values.

RFC 3261 §7.3: names are case-insensitive and several have a compact form; list
headers may be split over several lines or comma-joined on one. :class:`Headers`
keeps the fields in order as ``(canonical name, value)`` and answers look-ups by any
spelling. :class:`Via`, :class:`Address` and :class:`CSeq` are the parsed values the
transaction and dialog layers need; each has ``parse`` and ``__str__``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ._errors import RemoteProtocolError
from ._grammar import (
    TOKEN_RE,
    Params,
    format_params,
    get_param,
    parse_params,
    parse_uint,
    quote,
    read_quoted,
    set_param,
    skip_ws,
    split_list,
)
from ._memo import Memo, memo_table, memoised
from ._uri import SipUri, Uri, parse_host, parse_port, parse_uri

# RFC 3261 §7.3.3 and the later RFCs that registered compact forms.
COMPACT_FORMS = {
    "a": "Accept-Contact", "b": "Referred-By", "c": "Content-Type", "d": "Request-Disposition",
    "e": "Content-Encoding", "f": "From", "i": "Call-ID", "j": "Reject-Contact",
    "k": "Supported", "l": "Content-Length", "m": "Contact", "n": "Identity-Info",
    "o": "Event", "r": "Refer-To", "s": "Subject", "t": "To", "u": "Allow-Events",
    "v": "Via", "x": "Session-Expires", "y": "Identity",
}

_KNOWN_NAMES = [
    "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
    "Allow-Events", "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
    "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
    "Content-Type", "CSeq", "Date", "Error-Info", "Event", "Expires", "Flow-Timer", "From",
    "Identity", "Identity-Info", "In-Reply-To", "Max-Forwards", "MIME-Version", "Min-Expires",
    "Min-SE", "Organization", "Path", "Priority", "Proxy-Authenticate", "Proxy-Authorization",
    "Proxy-Require", "RAck", "Reason", "Record-Route", "Refer-To", "Referred-By",
    "Reject-Contact", "Reply-To", "Request-Disposition", "Require", "Retry-After", "Route",
    "RSeq", "Server", "Service-Route", "Session-Expires", "Subject", "Supported", "Timestamp",
    "To", "Unsupported", "User-Agent", "Via", "Warning", "WWW-Authenticate",
]
_CANONICAL = {name.lower(): name for name in _KNOWN_NAMES}
_CANONICAL.update(COMPACT_FORMS)

LIST_HEADERS = frozenset(
    name.lower()
    for name in (
        "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Allow-Events",
        "Call-Info", "Contact", "Content-Encoding", "Content-Language", "Error-Info",
        "In-Reply-To", "Path", "Proxy-Require", "Record-Route", "Require", "Route",
        "Service-Route", "Supported", "Unsupported", "Via", "Warning",
    )
)
"""Headers whose grammar is ``#element`` (comma-separated lists, RFC 3261 §7.3.1)."""

SINGLE_HEADERS = frozenset(
    ("call-id", "content-length", "content-type", "cseq", "expires", "from", "max-forwards", "to")
)
"""Headers that may appear at most once in a message."""


def canonical_name(name: str) -> str:
    """The long, conventionally capitalised name of a header (``v`` → ``Via``).

    Unknown names are returned as given.
    """
    return _CANONICAL.get(name.lower(), name)


_KEYS: dict[str, str] = {}
_KEYS_MAX = 4096


def _key(name: str) -> str:
    """The look-up key of a header name: its canonical name, lower-cased (memoised for
    the names that recur; a flood of invented names only fills the table once)."""
    key = _KEYS.get(name)
    if key is None:
        key = canonical_name(name).lower()
        if len(_KEYS) < _KEYS_MAX:
            _KEYS[name] = key
    return key


class Headers:
    """Ordered header fields with case-insensitive, compact-form-aware look-up.

    Alongside the ``(canonical name, value)`` fields it keeps their look-up keys (the
    lower-cased canonical names), so a look-up is one C-speed scan of a list.
    """

    __slots__ = ("_fields", "_keys")

    def __init__(self, fields: Iterable[tuple[str, object]] = ()) -> None:
        self._fields: list[tuple[str, str]] = []
        self._keys: list[str] = []
        for name, value in fields:
            self.add(name, value)

    @classmethod
    def _from_parsed(cls, fields: list[tuple[str, str]],
                     keys: list[str] | None = None) -> Headers:
        """Headers from the parser's ``(name as received, value)`` pairs (values are str)
        and, when a scanner has them already, their look-up keys."""
        headers = cls.__new__(cls)
        headers._fields = [(_CANONICAL.get(name.lower(), name), value) for name, value in fields]
        headers._keys = [_key(name) for name, _ in fields] if keys is None else keys
        return headers

    def add(self, name: str, value: object) -> None:
        """Append a field; ``value`` may be a string or any header object (``str()``-ed)."""
        self._fields.append((canonical_name(name), str(value)))
        self._keys.append(_key(name))

    def prepend(self, name: str, value: object) -> None:
        """Insert a field before all others (a proxy's new top Via, RFC 3261 §16.6)."""
        self._fields.insert(0, (canonical_name(name), str(value)))
        self._keys.insert(0, _key(name))

    def set(self, name: str, value: object) -> None:
        """Replace every field ``name`` by one, kept where the first one was."""
        canonical = canonical_name(name)
        key = _key(name)
        if key not in self._keys:
            self._fields.append((canonical, str(value)))
            self._keys.append(key)
            return
        first = self._keys.index(key)
        fields = [f for k, f in zip(self._keys, self._fields, strict=True) if k != key]
        fields.insert(first, (canonical, str(value)))
        keys = [k for k in self._keys if k != key]
        keys.insert(first, key)
        self._fields, self._keys = fields, keys

    def replace_first(self, name: str, value: object) -> None:
        """Replace the value of the first field ``name`` in place (append if none)."""
        key = _key(name)
        if key not in self._keys:
            self.add(name, value)
            return
        i = self._keys.index(key)
        self._fields[i] = (self._fields[i][0], str(value))

    def remove(self, name: str) -> None:
        key = _key(name)
        if key in self._keys:
            self._fields = [f for k, f in zip(self._keys, self._fields, strict=True) if k != key]
            self._keys = [k for k in self._keys if k != key]

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first field ``name``."""
        key = _KEYS.get(name) or _key(name)
        keys = self._keys
        if key not in keys:
            return default
        return self._fields[keys.index(key)][1]

    def get_all(self, name: str) -> list[str]:
        """The value of every field ``name``, one per header line."""
        key = _KEYS.get(name) or _key(name)
        if key not in self._keys:
            return []
        return [f[1] for k, f in zip(self._keys, self._fields, strict=True) if k == key]

    def values(self, name: str) -> list[str]:
        """Every element of a list header, comma-split across all its lines."""
        out: list[str] = []
        for value in self.get_all(name):
            out.extend(split_list(value, canonical_name(name)))
        return out

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._fields == other._fields

    def __repr__(self) -> str:
        return f"Headers({self._fields!r})"

    def copy(self) -> Headers:
        new = Headers()
        new._fields = list(self._fields)
        new._keys = list(self._keys)
        return new


# -- Via (RFC 3261 §20.42, §18.2.1; rport RFC 3581) -----------------------------------

BRANCH_MAGIC_COOKIE = "z9hG4bK"
"""RFC 3261 §8.1.1.7: every branch of an RFC 3261 client starts with this."""

_VIA_RE = re.compile(
    r"[ \t]*(?P<proto>[A-Za-z0-9\-.!%*_+`'~]+)[ \t]*/[ \t]*(?P<ver>[A-Za-z0-9\-.!%*_+`'~]+)"
    r"[ \t]*/[ \t]*(?P<transport>[A-Za-z0-9\-.!%*_+`'~]+)[ \t]+"
    r"(?P<host>\[[^\]\s]*\]|[A-Za-z0-9_.\-]+)(?:[ \t]*:[ \t]*(?P<port>[0-9]+))?"
)


@dataclass(frozen=True, slots=True)
class Via:
    """One Via element: ``SIP/2.0/UDP host:port;branch=z9hG4bK...;rport``."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()

    @classmethod
    def parse(cls, text: str) -> Via:
        """Parse one Via element (memoised: a Via is an immutable value, and the top Via of
        a message is read again by every layer it goes through)."""
        if cls is Via:
            via = _VIAS.get(text)
            return via if via is not None else _VIAS.put(text, cls._parse(text))
        return cls._parse(text)

    @classmethod
    def _parse(cls, text: str) -> Via:
        match = _VIA_RE.match(text)
        if not match:
            raise RemoteProtocolError("Malformed Via")
        if match["proto"].upper() != "SIP" or match["ver"] != "2.0":
            raise RemoteProtocolError(f"Unsupported Via protocol {match['proto']}/{match['ver']}")
        host = parse_host(match["host"])
        port = parse_port(match["port"]) if match["port"] is not None else None
        return cls(match["transport"].upper(), host, port, parse_params(text[match.end():], "Via"))

    @property
    def branch(self) -> str | None:
        return get_param(self.params, "branch")

    @property
    def received(self) -> str | None:
        return get_param(self.params, "received")

    @property
    def rport(self) -> int | bool | None:
        """None if absent, True if requested (no value), the port if filled in (RFC 3581)."""
        value = get_param(self.params, "rport")
        if value is None:
            return None
        return int(value) if value.isascii() and value.isdigit() else True

    @property
    def sent_by(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def with_param(self, name: str, value: str | None = None) -> Via:
        return Via(self.transport, self.host, self.port, set_param(self.params, name, value))

    def __str__(self) -> str:
        return f"SIP/2.0/{self.transport} {self.sent_by}{format_params(self.params)}"


_VIAS: Memo[str, Via] = memo_table()


# -- name-addr / addr-spec (RFC 3261 §20.10, §25.1) ------------------------------------


@dataclass(frozen=True, slots=True)
class Address:
    """A From/To/Contact/Route value: optional display name, URI, header parameters.

    Always serialised in name-addr form (``"Name" <uri>;tag=...``), which is valid for
    every URI, including those with ``;``, ``?`` or ``,`` (RFC 3261 §20.10).
    """

    uri: Uri
    display_name: str | None = None
    params: Params = ()

    @classmethod
    def parse(cls, text: str, header: str = "address") -> Address:
        """Parse a name-addr or addr-spec (memoised, like :meth:`Via.parse`)."""
        if cls is Address:
            return _parse_address(text, header)
        return cls._parse(text, header)

    @classmethod
    def _parse(cls, text: str, header: str = "address") -> Address:
        text = text.strip(" \t")
        display: str | None = None
        if text.startswith('"'):
            display, i = read_quoted(text, 0)
            i = skip_ws(text, i)
            if i >= len(text) or text[i] != "<":
                raise RemoteProtocolError(f"Expected '<' after display name in {header}")
            lt = i
        else:
            lt = text.find("<")
            if lt >= 0:
                words = text[:lt].split()
                # RFC 3261 §25.1: display-name = *(token LWS) / quoted-string
                if not all(TOKEN_RE.fullmatch(word) for word in words):
                    raise RemoteProtocolError(f"Non-token characters in display name of {header}")
                display = " ".join(words) if words else None
        if lt >= 0:
            gt = text.find(">", lt)
            if gt < 0:
                raise RemoteProtocolError(f"Unterminated '<' in {header}")
            uri_text = text[lt + 1 : gt]
            rest = text[gt + 1 :]
        else:
            uri_text, semi, params_text = text.partition(";")
            uri_text = uri_text.rstrip(" \t")  # SEMI = SWS ";" SWS
            rest = ";" + params_text if semi else ""
            # RFC 3261 §20.10: a URI with ",", "?" or ";" must be in name-addr form.
            if "?" in uri_text or "," in uri_text:
                raise RemoteProtocolError(f"URI with '?' or ',' not enclosed in <> in {header}")
        if not uri_text or uri_text != uri_text.strip() or " " in uri_text or "\t" in uri_text:
            raise RemoteProtocolError(f"Invalid URI in {header}")
        return cls(parse_uri(uri_text), display, parse_params(rest, header))

    @property
    def tag(self) -> str | None:
        return get_param(self.params, "tag")

    def param(self, name: str) -> str | None:
        return get_param(self.params, name)

    def with_param(self, name: str, value: str | None = None) -> Address:
        return Address(self.uri, self.display_name, set_param(self.params, name, value))

    @property
    def sip_uri(self) -> SipUri:
        """The URI, which must be a SIP or SIPS URI."""
        if not isinstance(self.uri, SipUri):
            raise RemoteProtocolError(f"Expected a SIP URI, got {self.uri.scheme}:")
        return self.uri

    def __str__(self) -> str:
        name = "" if self.display_name is None else quote(self.display_name) + " "
        return f"{name}<{self.uri}>{format_params(self.params)}"


_parse_address = memoised(Address._parse)


# -- CSeq (RFC 3261 §20.16) -------------------------------------------------------------

CSEQ_MAX = 2**31 - 1  # RFC 3261 §8.1.1.5: the sequence number MUST be less than 2**31.
_CSEQ_RE = re.compile(r"[ \t]*([0-9]+)[ \t]+([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*")


@dataclass(frozen=True, slots=True)
class CSeq:
    seq: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        """Parse ``seq method`` (memoised, like :meth:`Via.parse`)."""
        if cls is CSeq:
            return _parse_cseq(text)
        return cls._parse(text)

    @classmethod
    def _parse(cls, text: str) -> CSeq:
        match = _CSEQ_RE.fullmatch(text)
        if not match:
            raise RemoteProtocolError("Malformed CSeq")
        return cls(parse_uint(match[1], "CSeq", CSEQ_MAX), match[2])

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


_parse_cseq = memoised(CSeq._parse)


def parse_addresses(headers: Headers, name: str) -> list[Address]:
    """Every address of a list header (Contact, Route, Record-Route, Path...)."""
    return [Address.parse(item, name) for item in headers.values(name)]
