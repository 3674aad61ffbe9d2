"""SIP requests and responses: the one parser and serialiser of the project.

``parse_message(datagram)`` turns bytes into a :class:`Request` or :class:`Response`
(RFC 3261 §7, §25), validating every header the core relies on, so that anything it
accepts can be answered and routed. ``bytes(message)`` serialises it back, always with a
correct Content-Length. Stream transports frame first (``StreamFramer``), then call the
same parser on each framed message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from ._errors import LocalProtocolError, RemoteProtocolError
from ._grammar import TOKEN_RE, parse_uint, split_list
from ._headers import (
    _VIAS,
    SINGLE_HEADERS,
    Address,
    CSeq,
    Headers,
    Via,
    canonical_name,
    parse_addresses,
)
from ._memo import Memo, memo_table
from ._uri import SipUri, Uri, parse_uri

SIP_VERSION = "SIP/2.0"
MAX_FORWARDS_MAX = 255  # RFC 3261 §20.22
DELTA_SECONDS_MAX = 2**32 - 1  # RFC 3261 §25.1 delta-seconds, as RFC 4475 §3.1.2.4 reads it

REASON_PHRASES = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 300: "Multiple Choices",
    301: "Moved Permanently", 302: "Moved Temporarily", 305: "Use Proxy",
    380: "Alternative Service", 400: "Bad Request", 401: "Unauthorized",
    402: "Payment Required", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Timeout",
    410: "Gone", 413: "Request Entity Too Large", 414: "Request-URI Too Long",
    415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
    421: "Extension Required", 423: "Interval Too Brief", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 491: "Request Pending", 493: "Undecipherable",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 600: "Busy Everywhere", 603: "Decline",
    604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}

_WORD = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"  # RFC 3261 §25.1 word
_CALL_ID_RE = re.compile(f"{_WORD}(?:@{_WORD})?")
_DATE_RE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
                      r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
                      r"[0-9]{2}:[0-9]{2}:[0-9]{2} GMT")
_VERSION_RE = re.compile(r"SIP/[0-9]+\.[0-9]+", re.IGNORECASE)


def top_via_of(line: str) -> Via:
    """The first Via element of a Via header line (memoised: every layer reads it)."""
    via = _TOP_VIAS.get(line)
    if via is None:
        via = _TOP_VIAS.put(line, Via.parse(split_list(line, "Via")[0]))
    return via


_TOP_VIAS: Memo[str, Via] = memo_table()


class Message:
    """What requests and responses share: ordered headers, a body, typed accessors."""

    __slots__ = ("headers", "body")

    def __init__(self, headers: Headers | Iterable[tuple[str, object]] | None, body: bytes) -> None:
        self.headers = headers if isinstance(headers, Headers) else Headers(headers or ())
        self.body = bytes(body)

    # Typed views of the headers every transaction and dialog needs. They parse on each
    # access: the Headers container stays the one source of truth when a layer edits it.

    @property
    def via(self) -> list[Via]:
        return [Via.parse(item) for item in self.headers.values("Via")]

    @property
    def top_via(self) -> Via:
        first = self.headers.get("Via")
        if first is None:
            raise RemoteProtocolError("Missing Via header")
        return top_via_of(first)

    def replace_top_via(self, via: Via) -> None:
        """Replace the top Via element by ``via`` (a server stamping ``received`` and
        ``rport``, RFC 3261 §18.2.1, RFC 3581 §4), keeping the other elements and lines.

        The parsed value is remembered with its text, so the layers that read the top
        Via next (transaction matching, the response's destination) do not parse it.
        """
        line = self.headers.get("Via")
        if line is None:
            raise LocalProtocolError("No Via header to replace")
        elements = split_list(line, "Via")
        text = str(via)
        new_line = ", ".join([text] + elements[1:])
        self.headers.replace_first("Via", new_line)
        _VIAS.put(text, via)
        _TOP_VIAS.put(new_line, via)

    @property
    def from_(self) -> Address:
        return Address.parse(self._required("From"), "From")

    @property
    def to(self) -> Address:
        return Address.parse(self._required("To"), "To")

    @property
    def call_id(self) -> str:
        return self._required("Call-ID")

    @property
    def cseq(self) -> CSeq:
        return CSeq.parse(self._required("CSeq"))

    @property
    def contacts(self) -> list[Address]:
        """Contact addresses; empty for none and for the wildcard ``*`` (see ``contact_star``)."""
        if self.contact_star:
            return []
        return parse_addresses(self.headers, "Contact")

    @property
    def contact_star(self) -> bool:
        """True for ``Contact: *`` (remove all bindings, RFC 3261 §10.2.2)."""
        values = self.headers.get_all("Contact")
        return len(values) == 1 and values[0].strip() == "*"

    @property
    def max_forwards(self) -> int | None:
        value = self.headers.get("Max-Forwards")
        return None if value is None else parse_uint(value, "Max-Forwards", MAX_FORWARDS_MAX)

    @property
    def expires(self) -> int | None:
        value = self.headers.get("Expires")
        return None if value is None else parse_uint(value, "Expires", DELTA_SECONDS_MAX)

    @property
    def content_type(self) -> str | None:
        return self.headers.get("Content-Type")

    def _required(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise RemoteProtocolError(f"Missing {name} header")
        return value

    def start_line(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """Serialise with CRLF line ends and a Content-Length that matches the body."""
        lines = [self.start_line()]
        lines.extend(f"{name}: {value}" for name, value in self.headers if name != "Content-Length")
        lines.append(f"Content-Length: {len(self.body)}")
        lines.append("\r\n")
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + self.body

    __bytes__ = to_bytes

    def _fields(self) -> list[tuple[str, str]]:
        # Content-Length is derived from the body whenever the message is serialised.
        return [field for field in self.headers if field[0] != "Content-Length"]

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and self.start_line() == other.start_line()
            and self._fields() == other._fields()
            and self.body == other.body
        )

    # Unhashable: a message is mutable (layers edit its headers) and equal by value.
    __hash__ = None  # type: ignore[assignment]  # object declares __hash__ as a method

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.start_line()!r} "
                f"({len(self.headers)} headers, {len(self.body)} bytes body)>")


class Request(Message):
    """A SIP request. ``uri`` accepts a URI object or its text."""

    __slots__ = ("method", "uri")

    def __init__(
        self,
        method: str,
        uri: Uri | str,
        headers: Headers | Iterable[tuple[str, object]] | None = None,
        body: bytes = b"",
    ) -> None:
        if not TOKEN_RE.fullmatch(method):
            raise LocalProtocolError(f"Invalid method {method!r}")
        super().__init__(headers, body)
        self.method = method
        self.uri = parse_uri(uri) if isinstance(uri, str) else uri

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"


class Response(Message):
    """A SIP response; ``reason`` defaults to the RFC 3261 phrase for ``status``."""

    __slots__ = ("status", "reason")

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: Headers | Iterable[tuple[str, object]] | None = None,
        body: bytes = b"",
    ) -> None:
        if not 100 <= status <= 699:
            raise LocalProtocolError(f"Invalid status code {status}")
        super().__init__(headers, body)
        self.status = status
        self.reason = REASON_PHRASES.get(status, "") if reason is None else reason

    @property
    def provisional(self) -> bool:
        return self.status < 200

    def start_line(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, object]] = (),
    body: bytes = b"",
) -> Response:
    """Build a response to ``request`` as a UAS must (RFC 3261 §8.2.6.2).

    Via (all, in order), From, To, Call-ID and CSeq are copied; ``to_tag`` is added to
    To when the request has none (not for 100 Trying, §8.2.6.1); Record-Route is copied
    into dialog-creating responses (§12.1.1).
    """
    response = Response(status, reason, body=body)
    copy = ["Via", "From", "To", "Call-ID", "CSeq"]
    if 100 < status < 300:
        copy.insert(1, "Record-Route")
    for name, value in request.headers:
        if name in copy:
            if name == "To" and to_tag and status != 100:
                to = Address.parse(value, "To")
                if to.tag is None:
                    value = str(to.with_param("tag", to_tag))
            response.headers.add(name, value)
    for extra_name, extra_value in headers:
        response.headers.add(extra_name, extra_value)
    return response


# -- parsing ------------------------------------------------------------------------------


def _check_call_id(value: str) -> None:
    if not _CALL_ID_RE.fullmatch(value):
        raise RemoteProtocolError("Malformed Call-ID")


def _check_date(value: str) -> None:
    # RFC 3261 §20.17: rfc1123-date, and the time zone must be "GMT" (RFC 4475 §3.1.2.12).
    if not _DATE_RE.fullmatch(value):
        raise RemoteProtocolError("Invalid Date header (RFC 1123 date in GMT expected)")


def _items(lines: list[str], name: str) -> list[str]:
    """Every element of a list header, comma-split across all its lines."""
    return [item for line in lines for item in split_list(line, name)]


def _check_contacts(lines: list[str]) -> None:
    values = _items(lines, "Contact")
    if "*" in values:
        if len(values) != 1:
            raise RemoteProtocolError("Contact '*' mixed with other contacts")
        return
    for contact in (Address.parse(item, "Contact") for item in values):
        expires = contact.param("expires")
        if expires is not None:
            parse_uint(expires, "Contact expires", DELTA_SECONDS_MAX)


# Checks run on every received message: each header the core relies on must parse.
# Each takes the values of every line of its header, in order (one for single headers).
_CHECKS: dict[str, Callable[[list[str]], object]] = {
    "via": lambda v: [Via.parse(item) for item in _items(v, "Via")],
    "from": lambda v: Address.parse(v[0], "From"),
    "to": lambda v: Address.parse(v[0], "To"),
    "call-id": lambda v: _check_call_id(v[0]),
    "cseq": lambda v: CSeq.parse(v[0]),
    "max-forwards": lambda v: parse_uint(v[0], "Max-Forwards", MAX_FORWARDS_MAX),
    "expires": lambda v: parse_uint(v[0], "Expires", DELTA_SECONDS_MAX),
    "min-expires": lambda v: parse_uint(v[0], "Min-Expires", DELTA_SECONDS_MAX),
    "content-length": lambda v: parse_uint(v[0], "Content-Length", 2**31),
    "contact": _check_contacts,
    "route": lambda v: [Address.parse(item, "Route") for item in _items(v, "Route")],
    "record-route": lambda v: [Address.parse(item, "Record-Route")
                               for item in _items(v, "Record-Route")],
    "date": lambda v: _check_date(v[0]),
}
_MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")  # RFC 3261 §8.1.1


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    """Split a message into its head (start line and headers) and what follows."""
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        return data[:end], data[end + 4 :]
    end = data.find(b"\n\n")
    if end >= 0:
        return data[:end], data[end + 2 :]
    return data.rstrip(b"\r\n"), b""


# One header line ``name: value`` (no continuation): the parser's fast path over the whole
# header section at once. Its matches are exactly the lines _parse_header_lines accepts.
_HEADER_LINE_RE = re.compile(r"^([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*:[ \t]*(.*?)[ \t]*$", re.M)


def _parse_header_lines(lines: list[str], text: str | None = None) -> Headers:
    """Header fields from their lines (``text``: the same lines joined by newlines)."""
    if text is not None:
        fields = _HEADER_LINE_RE.findall(text)
        if len(fields) == len(lines):  # every line is a plain "name: value"
            return Headers._from_parsed(fields)
    fields = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            # RFC 3261 §7.3.1: a line starting with whitespace continues the previous one.
            if not fields:
                raise RemoteProtocolError("Continuation line before first header")
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}".strip())
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not TOKEN_RE.fullmatch(name):
            raise RemoteProtocolError(f"Malformed header line {line[:40]!r}")
        fields.append((name, value.strip(" \t")))
    return Headers._from_parsed(fields)


def _validate(headers: Headers) -> None:
    keys = headers._keys  # the lower-cased canonical names, in order
    fields = headers._fields
    present = set(keys)
    for name in _MANDATORY:
        if name.lower() not in present:
            raise RemoteProtocolError(f"Missing {name} header")
    if len(present) != len(keys):  # some header appears more than once
        counts: dict[str, int] = {}
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
        for key in SINGLE_HEADERS:
            if counts.get(key, 0) > 1:
                raise RemoteProtocolError(f"More than one {canonical_name(key)} header")
    # Each checked header once, in message order, with the values of all its lines.
    grouped: dict[str, list[str]] = {}
    for key, field in zip(keys, fields, strict=True):
        if key in _CHECKS:
            grouped.setdefault(key, []).append(field[1])
    for key, values in grouped.items():
        _CHECKS[key](values)


def _parse_start_line(line: str) -> tuple[str, str, str]:
    """Split the start line; returns ("request", method, uri) or ("response", code, reason)."""
    if line[:4].upper() == "SIP/":
        version, _, rest = line.partition(" ")
        if version.upper() != SIP_VERSION:
            raise RemoteProtocolError(f"Unsupported SIP version {version[:20]!r}", 505)
        code, _, reason = rest.partition(" ")
        valid = len(code) == 3 and code.isascii() and code.isdigit() and 100 <= int(code) <= 699
        if not valid:
            raise RemoteProtocolError(f"Invalid status code {code[:20]!r}")
        return "response", code, reason
    # RFC 3261 §7.1: Method SP Request-URI SP SIP-Version, single spaces, nothing more.
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise RemoteProtocolError("Malformed Request-Line")
    method, uri, version = parts
    if not TOKEN_RE.fullmatch(method):
        raise RemoteProtocolError("Invalid method in Request-Line")
    if version.upper() != SIP_VERSION:
        if _VERSION_RE.fullmatch(version):
            raise RemoteProtocolError(f"Version Not Supported: {version[:20]}", 505)
        raise RemoteProtocolError("Malformed Request-Line")
    return "request", method, uri


def parse_message(data: bytes) -> Request | Response:
    """Parse one SIP message from a datagram (or a frame cut by ``StreamFramer``).

    RFC 3261 §18.3: without Content-Length the body runs to the end of the datagram;
    bytes beyond Content-Length are discarded; a Content-Length larger than what arrived
    is an error. Raises :class:`RemoteProtocolError` (with ``raw`` set) on anything else
    the core cannot accept.
    """
    try:
        return _parse(data)
    except RemoteProtocolError as exc:
        if exc.raw is None:
            exc.raw = bytes(data)
        raise


def _parse(data: bytes) -> Request | Response:
    data = data.lstrip(b"\r\n")  # RFC 3261 §7.5: ignore CRLFs before the start line
    if not data:
        raise RemoteProtocolError("Empty message")
    head, rest = _split_head(data)
    text = head.decode("utf-8", "surrogateescape").replace("\r\n", "\n")
    start, newline, header_text = text.partition("\n")
    kind, first, second = _parse_start_line(start)
    headers = _parse_header_lines(header_text.split("\n") if newline else [], header_text)
    _validate(headers)

    length = headers.get("Content-Length")
    if length is None:
        body = rest
    else:
        size = int(length)
        if size > len(rest):
            raise RemoteProtocolError(
                f"Content-Length {size} larger than the {len(rest)} bytes of body received"
            )
        body = rest[:size]

    if kind == "response":
        return Response(int(first), second, headers, body)
    uri = parse_uri(second)
    if isinstance(uri, SipUri) and uri.headers:
        # RFC 3261 §19.1.1 (table): headers are not allowed in a Request-URI.
        raise RemoteProtocolError("Headers not allowed in Request-URI")
    method = first
    cseq_line = headers.get("CSeq")
    assert cseq_line is not None  # _validate() checked the mandatory headers
    cseq = CSeq.parse(cseq_line)
    if cseq.method != method:
        raise RemoteProtocolError(f"CSeq method {cseq.method} does not match {method}")
    return Request(method, uri, headers, body)


_ERROR_COPY = {"via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"}


def error_response_for(raw: bytes, error: RemoteProtocolError) -> bytes | None:
    """Best-effort error response to a request the parser refused.

    Copies the raw Via/From/To/Call-ID/CSeq lines so the sender can match the answer,
    and uses ``error.status_hint`` and ``error.reason`` as the status line. Returns
    None for a response, or when the bytes do not even look like a request: RFC 3261
    §18.1.2 says malformed responses are silently discarded.
    """
    head, _ = _split_head(raw.lstrip(b"\r\n"))
    text = head.decode("utf-8", "surrogateescape").replace("\r\n", "\n")
    lines = text.split("\n")
    if not lines or lines[0][:4].upper() == "SIP/" or " " not in lines[0]:
        return None
    copied: list[str | None] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and copied and copied[-1] is not None:
            copied[-1] += " " + line.strip()
            continue
        name = line.partition(":")[0].strip().lower()
        copied.append(line if name in _ERROR_COPY else None)
    reason = error.reason.replace("\r", " ").replace("\n", " ")[:120]
    status = error.status_hint if 300 <= error.status_hint <= 699 else 400
    out = [f"{SIP_VERSION} {status} {reason}"] + [line for line in copied if line is not None]
    out += ["Content-Length: 0", "\r\n"]
    return "\r\n".join(out).encode("utf-8", "surrogateescape")

