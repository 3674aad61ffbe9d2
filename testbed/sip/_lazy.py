"""Lazy parsing for the hot paths: a REGISTER's start line and the headers it needs, and
the few fields of a response a load client reads.

:func:`scan_register` reads a plain REGISTER (RFC 3261 §10.2) without building a
:class:`Request`: the start line, one Via, From, To, Call-ID, CSeq, Expires, one
Contact and the credentials. :func:`scan_response` reads a response's status, Call-ID,
CSeq, top Via branch and challenge. Both return None for anything out of the ordinary
(folded lines, several Vias or Contacts, a body, a header the full parser checks and
the scanner does not, non-ASCII text...): the caller then uses :func:`parse_message`,
which answers what is wrong. What a scanner accepts, :func:`parse_message` accepts,
with the same values; the unit tests compare the two on the RFC 4475 corpus and on the
messages the scenario catalogue exchanges.

The values that repeat from one message to the next (a user's To and Contact, a
client's Via less its branch, the Request-URI) are validated by the full parsers once
and memoised; what changes every time (branch, tags, Call-ID, CSeq number) is checked
against the grammar with one regular expression each.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ._errors import RemoteProtocolError
from ._grammar import TOKEN_RE
from ._headers import _KEYS, Address, Headers, Via, _key
from ._memo import Memo, memo_table
from ._message import _CALL_ID_RE, _DATE_RE, DELTA_SECONDS_MAX, MAX_FORWARDS_MAX, Response
from ._uri import SipUri, parse_uri
from ._varying import Cutter

_COOKIE = "z9hg4bk"  # RFC 3261 §8.1.1.7 magic cookie, compared lower-cased (§17.2.3)
_BRANCH_RE = re.compile(r";[ \t]*branch[ \t]*=[ \t]*([^;, \t]+)", re.I)
_TAG_RE = re.compile(r">[ \t]*;[ \t]*tag[ \t]*=[ \t]*([^;, \t]+)$", re.I)
_CSEQ_RE = re.compile(r"([0-9]{1,9})[ \t]+([A-Za-z]+)")
_STATUS_RE = re.compile(r"SIP/2\.0 ([1-6][0-9][0-9]) ([^\r\n]*)")
# Headers the full parser validates beyond their name (_message._CHECKS) that the REGISTER
# scanner does not read: their presence sends the message to the full parser.
_UNREAD_CHECKED = frozenset(("route", "record-route", "date", "min-expires"))
_PLACEHOLDER = "\x00"
_COPIED = frozenset(("via", "from", "to", "call-id", "cseq"))  # into every response
# One header line "name: value" (the full parser's _HEADER_LINE_RE).
_LINE_RE = re.compile(r"^([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*:[ \t]*(.*?)[ \t]*$", re.M)

_VIA_TEMPLATES: Memo[str, Via] = memo_table()
_FROM_TEMPLATES: Memo[str, bool] = memo_table()


@dataclass(slots=True)
class RegisterView:
    """The fields of a plain REGISTER that a registrar needs (see :func:`scan_register`).

    ``order`` lists the keys of Via, From, To, Call-ID and CSeq in the order the request
    carries them (a response copies them in that order, RFC 3261 §8.2.6.2).
    """

    uri: SipUri
    via: Via
    via_text: str
    branch: str
    from_: str
    to: str
    to_address: Address
    call_id: str
    cseq: int
    cseq_text: str
    contact: Address | None
    contact_text: str | None
    expires: int | None
    authorization: list[str]
    order: tuple[str, ...]
    sent_by: str
    """The Via's sent-by, lower-cased (as transaction keys compare it)."""

    @property
    def key(self) -> tuple[str, str, str]:
        """The server transaction key (RFC 3261 §17.2.3), as :func:`server_key` gives it."""
        return (self.branch.lower(), self.sent_by, "REGISTER")


def _via_of(value: str) -> tuple[Via, str] | None:
    """The Via of one element with its branch (memoised by its text less the branch)."""
    match = _BRANCH_RE.search(value)
    if match is None:
        return None
    branch = match[1]
    if not TOKEN_RE.fullmatch(branch) or not branch.lower().startswith(_COOKIE):
        return None  # an RFC 2543 request: the full path matches it
    template = value[:match.start(1)] + _PLACEHOLDER + value[match.end(1):]
    via = _VIA_TEMPLATES.get(template)
    if via is None:
        via = _VIA_TEMPLATES.put(template, Via.parse(value).with_param("branch", _PLACEHOLDER))
    return via, branch


def _tagged_address_ok(value: str, header: str) -> bool:
    """Whether From (or a To with a tag) parses: memoised by the text before the tag."""
    match = _TAG_RE.search(value)
    if match is not None:
        if not TOKEN_RE.fullmatch(match[1]):
            return False
        value = value[:match.start() + 1]
    known = _FROM_TEMPLATES.get(value)
    if known is None:
        Address.parse(value, header)  # raises when malformed
        known = _FROM_TEMPLATES.put(value, True)
    return known


def scan_register(data: bytes) -> RegisterView | None:
    """The fields of ``data`` if it is a plain REGISTER without body, else None.

    Never raises: input the scanner cannot vouch for is left to :func:`parse_message`.

    A phone's REGISTERs differ from one to the next in a few values only: the branch,
    the From tag, the Call-ID, the CSeq and the credentials. The text around them (its
    *shape*) is looked up first; a shape seen before gives the view at once, with those
    values checked and put in (:class:`_Shape`). Any other REGISTER is scanned header
    by header, and its shape remembered.
    """
    return _scan(data, b"REGISTER ", _REGISTER_CUTTER, _SHAPES, _scan_register,
                 _remember_shape)


_V = TypeVar("_V")
_V_co = TypeVar("_V_co", covariant=True)


class _ShapeOf(Protocol[_V_co]):
    """A remembered shape (:class:`_Shape`, :class:`_ResponseShape`)."""

    def view(self, parts: list[str | None]) -> _V_co | None: ...


def _scan(data: bytes, prefix: bytes, cutter: Cutter, shapes: Memo[str, Any],
          scan: Callable[..., _V | None],
          remember: Callable[[str, dict[str, int] | None, list[str | None], _V], None],
          ) -> _V | None:
    """What both scanners do: a body-less message starting with ``prefix`` is read from
    its shape when one was remembered, else scanned header by header (``scan``) and its
    shape remembered. Never raises."""
    try:
        if not data.startswith(prefix):
            return None
        end = data.find(b"\r\n\r\n")
        if end < 0 or end + 4 != len(data):
            return None
        text = data[:end].decode("ascii")
        if "\x00" in text:
            return None  # a NUL would make two cuts of one shape (the full parser answers)
        key, parts = cutter.cut(text)
        shape: _ShapeOf[_V] | None = shapes.get(key)
        if shape is not None:
            return shape.view(parts)
        split = _split(text)
        view = None if split is None else scan(*split)
        if view is not None:
            remember(key, cutter.where(text), parts, view)
        return view
    except (RemoteProtocolError, ValueError, IndexError):  # UnicodeDecodeError: ValueError
        return None


# The values that change between a phone's REGISTERs, each after the text that names it
# (as phones and SIPp write them; other spellings leave the message without a shape).
_BRANCH, _TAG, _CALL_ID, _CSEQ, _AUTHORIZATION = _REGISTER_VARYING = (
    ";branch=", ";tag=", "\r\nCall-ID: ", "\r\nCSeq: ", "\r\nAuthorization: ")
_REGISTER_CUTTER = Cutter(_REGISTER_VARYING, frozenset((_AUTHORIZATION,)))


@dataclass(frozen=True, slots=True)
class _Shape:
    """A REGISTER's text less its varying values, and the view it was scanned to.

    Two REGISTERs of one shape differ only in those values, each in the one place the
    shape says (the Via's branch, the From's tag, the whole Call-ID, CSeq and
    Authorization): the view of the second is the first's with the new values, once
    each passed the check the scanner makes of it.
    """

    template: RegisterView
    where: tuple[int, int, int, int, int]
    """Index in the split text of the branch, tag, Call-ID, CSeq, Authorization (-1: none)."""
    via: tuple[str, str]
    """The Via value around its branch."""
    from_: tuple[str, str]
    """The From value around its tag."""

    def view(self, parts: list[str | None]) -> RegisterView | None:
        branch_at, tag_at, call_id_at, cseq_at, authorization_at = self.where
        branch, tag, call_id, cseq_text = parts[branch_at], parts[tag_at], \
            parts[call_id_at], parts[cseq_at]
        if branch is None or tag is None or call_id is None or cseq_text is None:
            return None  # the same texts, other values between them
        checked = _REGISTER_VALUES_RE.fullmatch(f"{branch}\n{tag}\n{call_id}\n{cseq_text}")
        if checked is None:
            return None
        authorization = []
        if authorization_at >= 0:
            value = parts[authorization_at]
            if value is None:
                return None
            value = value.strip(" \t")
            if not value:
                return None
            authorization.append(value)
        t = self.template
        return RegisterView(t.uri, t.via, branch.join(self.via), branch, tag.join(self.from_),
                            t.to, t.to_address, call_id, int(checked[1]), cseq_text, t.contact,
                            t.contact_text, t.expires, authorization, t.order, t.sent_by)


# The checks of a shape's varying values in one: a branch with the magic cookie, a From
# tag, a Call-ID (each a token or word: as TOKEN_RE and _CALL_ID_RE) and a REGISTER's
# CSeq (as _CSEQ_RE), one per line (no value holds a line end: Cutter ends them there).
_REGISTER_VALUES_RE = re.compile(
    rf"(?i:{_COOKIE}){TOKEN_RE.pattern.removesuffix('+')}*\n{TOKEN_RE.pattern}\n"
    rf"{_CALL_ID_RE.pattern}\n([0-9]{{1,9}})[ \t]+REGISTER")
_SHAPES: Memo[str, _Shape] = memo_table()


def _remember_shape(key: str, where: dict[str, int] | None, parts: list[str | None],
                    view: RegisterView) -> None:
    """Keep the shape of a REGISTER just scanned, if each varying value is where a
    :class:`_Shape` puts it back (once each, the branch in the Via, the tag in the From)."""
    if where is None or len(where) < 4 or (_AUTHORIZATION in where) != bool(view.authorization):
        return
    branch, tag = parts[where[_BRANCH]] or "", parts[where[_TAG]] or ""
    if (parts[where[_CALL_ID]], parts[where[_CSEQ]]) != (view.call_id, view.cseq_text) \
            or branch != view.branch or view.via_text.count(branch) != 1 \
            or view.from_.count(f";tag={tag}") != 1 or view.from_.count(tag) != 1 \
            or (view.authorization and parts[where[_AUTHORIZATION]] != view.authorization[0]):
        return
    _SHAPES.put(key, _Shape(view, (where[_BRANCH], where[_TAG], where[_CALL_ID], where[_CSEQ],
                                   where.get(_AUTHORIZATION, -1)),
                            _around(view.via_text, branch), _around(view.from_, tag)))


def _around(text: str, value: str) -> tuple[str, str]:
    """The text before and after the one ``value`` in ``text``."""
    before, _, after = text.partition(value)
    return before, after


_Split = tuple[str, list[tuple[str, str]], list[str], dict[str, str]]


def _split(text: str) -> _Split | None:
    """The text of a message's start line and headers (what :func:`_scan` checked is
    all there is: no body): its start line, its ``(name, value)`` fields, their keys
    and a dict of them by key (the last of each); None for a bare CR or LF, a folded,
    empty or malformed line."""
    start, _, head = text.partition("\r\n")
    head = head.replace("\r\n", "\n")
    if "\r" in head:
        return None  # a bare CR: the full parser's line rules apply
    fields = _LINE_RE.findall(head)
    if len(fields) != head.count("\n") + 1:
        return None
    keys = [_KEYS.get(name) or _key(name) for name, _ in fields]
    return start, fields, keys, dict(zip(keys, [value for _, value in fields], strict=True))


def _scan_register(start: str, fields: list[tuple[str, str]], keys: list[str],
                   values: dict[str, str]) -> RegisterView | None:
    parts = start.split(" ")
    if len(parts) != 3 or parts[2] != "SIP/2.0":
        return None
    uri = parse_uri(parts[1])
    if not isinstance(uri, SipUri) or uri.headers:
        return None
    if len(values) != len(keys) or not _UNREAD_CHECKED.isdisjoint(values):
        return None  # a second Via, Contact or single header; a header left unchecked
    order = tuple(key for key in keys if key in _COPIED)
    authorization = values.get("authorization")
    if len(order) != 5:
        return None
    via_value = values["via"]
    if "," in via_value:
        return None
    found = _via_of(via_value)
    cseq = _CSEQ_RE.fullmatch(values["cseq"])
    call_id = values["call-id"]
    if found is None or cseq is None or cseq[2] != "REGISTER" \
            or not _CALL_ID_RE.fullmatch(call_id):
        return None
    from_ = values["from"]
    to = values["to"]
    if not _common_ok(values, ("max-forwards", "expires", "content-length")):
        return None
    expires = values.get("expires")
    contact_text = values.get("contact")
    contact = None
    if contact_text is not None:
        if "," in contact_text or contact_text == "*" or '"' in contact_text:
            return None
        contact = Address.parse(contact_text, "Contact")
        param = contact.param("expires")
        if param is not None and not (param.isascii() and param.isdigit()
                                      and int(param) <= DELTA_SECONDS_MAX):
            return None
    via, branch = found
    return RegisterView(uri, via, via_value, branch, from_, to, Address.parse(to, "To"),
                        call_id, int(cseq[1]), values["cseq"], contact, contact_text,
                        None if expires is None else int(expires),
                        [] if authorization is None else [authorization], order,
                        via.sent_by.lower())


@dataclass(frozen=True, slots=True)
class ResponseView:
    """What a load client reads of a response (see :func:`scan_response`)."""

    status: int
    reason: str
    call_id: str
    cseq: int
    method: str
    branch: str
    challenge: str | None
    fields: list[tuple[str, str]]
    keys: list[str]

    def response(self) -> Response:
        """The :class:`Response` :func:`parse_message` would give (headers as received)."""
        return Response(self.status, self.reason, Headers._from_parsed(self.fields, self.keys))


def scan_response(data: bytes) -> ResponseView | None:
    """Status, Call-ID, CSeq, top Via branch and the first WWW-Authenticate or
    Proxy-Authenticate of a plain body-less response with one Via, else None.

    Never raises. Every header the full parser checks is checked here too (a repeated
    value once, then memoised), or the response is left to the full parser: what this
    accepts, :func:`parse_message` accepts, as the same :meth:`ResponseView.response`.
    """
    return _scan(data, b"SIP/2.0 ", _RESPONSE_CUTTER, _RESPONSE_SHAPES, _scan_response,
                 _remember_response_shape)


# What changes between a registrar's answers to one phone: our branch and From tag, its
# To tag, the Call-ID and CSeq, the Date, the binding's remaining expires, the nonce.
_FROM, _TO, _DATE, _EXPIRES, _CHALLENGE = ("\r\nFrom: ", "\r\nTo: ", "\r\nDate: ",
                                           ";expires=", "\r\nWWW-Authenticate: ")
_RESPONSE_VARYING = (_BRANCH, _FROM, _TO, _CALL_ID, _CSEQ, _DATE, _EXPIRES, _CHALLENGE)
_RESPONSE_CUTTER = Cutter(_RESPONSE_VARYING, frozenset((_DATE, _EXPIRES, _CHALLENGE)))
_FIELD_OF = {_FROM: "from", _TO: "to", _CALL_ID: "call-id", _CSEQ: "cseq", _DATE: "date",
             _CHALLENGE: "www-authenticate", _BRANCH: "via", _EXPIRES: "contact"}


@dataclass(frozen=True, slots=True)
class _ResponseShape:
    """An answer's text less its varying values, and the view it was scanned to: the
    view of another answer of the same shape is this one's with the new values, each
    once it passed the scanner's check (as :class:`_Shape` does for REGISTERs)."""

    template: ResponseView
    where: tuple[tuple[str, int, int, str, str], ...]
    """Per varying value: its prefix, index in the split text, index of its header field,
    and the field's text before and after it."""

    def view(self, parts: list[str | None]) -> ResponseView | None:
        t = self.template
        fields = list(t.fields)
        branch, call_id, cseq, challenge = "", t.call_id, None, None
        for prefix, at, field, before, after in self.where:
            value = parts[at]
            if value is None:
                return None  # the same texts, other values between them
            if prefix is _BRANCH:
                if not TOKEN_RE.fullmatch(value) or not value.lower().startswith(_COOKIE):
                    return None
                branch = value
            elif prefix is _EXPIRES:
                if not (value.isdigit() and len(value) < 10):
                    return None
            elif value != value.strip(" \t") or not value:
                return None
            elif prefix is _CALL_ID:
                if not _CALL_ID_RE.fullmatch(value):
                    return None
                call_id = value
            elif prefix is _CSEQ:
                cseq = _CSEQ_RE.fullmatch(value)
                if cseq is None:
                    return None
            elif prefix is _DATE:
                if not _DATE_RE.fullmatch(value):
                    return None
            elif prefix is _CHALLENGE:
                challenge = value
            elif not _tagged_address_ok(value, "From" if prefix is _FROM else "To"):
                return None
            fields[field] = (fields[field][0], f"{before}{value}{after}")
        assert cseq is not None  # the shape has a CSeq
        return ResponseView(t.status, t.reason, call_id, int(cseq[1]), cseq[2], branch,
                            challenge, fields, t.keys)


_RESPONSE_SHAPES: Memo[str, _ResponseShape] = memo_table()


def _remember_response_shape(key: str, where: dict[str, int] | None,
                             parts: list[str | None], view: ResponseView) -> None:
    """Keep the shape of an answer just scanned, if each varying value is in one header
    field of its own (the branch in the one Via, the expires at the end of the one
    Contact) where :class:`_ResponseShape` puts it back."""
    if where is None or view.challenge is not None and _CHALLENGE not in where:
        return
    places = []
    for prefix, at in where.items():
        value = parts[at] or ""
        name = _FIELD_OF[prefix]
        found = [i for i, key in enumerate(view.keys) if key == name]
        if len(found) != 1:
            return
        text = view.fields[found[0]][1]
        if prefix in (_BRANCH, _EXPIRES):
            marked = f"{prefix}{value}"
            if text.count(marked) != 1 or text.count(value) != 1 \
                    or (prefix is _EXPIRES and not text.endswith(marked)):
                return
            before, after = _around(text, value)
        elif text != value:
            return
        else:
            before = after = ""
        places.append((prefix, at, found[0], before, after))
    _RESPONSE_SHAPES.put(key, _ResponseShape(view, tuple(places)))


def _scan_response(start: str, fields: list[tuple[str, str]], keys: list[str],
                   values: dict[str, str]) -> ResponseView | None:
    status = _STATUS_RE.fullmatch(start)
    if status is None:
        return None
    if len(values) != len(keys) and not _repeats_allowed(keys):
        return None
    if "route" in values or "record-route" in values:
        return None  # not an answer to a REGISTER: the full parser reads it
    via = values.get("via")
    cseq = _CSEQ_RE.fullmatch(values.get("cseq", ""))
    call_id = values.get("call-id")
    if via is None or cseq is None or call_id is None or "," in via \
            or not _CALL_ID_RE.fullmatch(call_id) or "from" not in values or "to" not in values:
        return None
    found = _via_of(via)  # our own Via, stamped the same way each time: memoised
    if found is None:
        return None
    if not _common_ok(values, ("expires", "min-expires", "content-length", "max-forwards")):
        return None
    date = values.get("date")
    if date is not None and not _DATE_RE.fullmatch(date):
        return None
    if "contact" in values and not all(_contact_ok(value) for key, (_, value)
                                       in zip(keys, fields, strict=True) if key == "contact"):
        return None
    challenge = values.get("www-authenticate") or values.get("proxy-authenticate")
    return ResponseView(int(status[1]), status[2], call_id, int(cseq[1]), cseq[2], found[1],
                        challenge, fields, keys)


def _common_ok(values: dict[str, str], numbers: tuple[str, ...]) -> bool:
    """From and To parse; the ``numbers`` headers present are small decimal numbers
    (delta-seconds, RFC 3261 §25.1); no body (Content-Length 0); Max-Forwards ≤ 255."""
    if not _tagged_address_ok(values["from"], "From") \
            or not _tagged_address_ok(values["to"], "To"):
        return False
    for key in numbers:
        value = values.get(key)
        if value is not None and not (value.isascii() and value.isdigit() and len(value) < 10):
            return False
    return int(values.get("content-length", "0")) == 0 \
        and int(values.get("max-forwards", "0")) <= MAX_FORWARDS_MAX


def _repeats_allowed(keys: list[str]) -> bool:
    """Whether the only repeated headers are challenges (several may come, §22.3) and
    Contacts (a registrar's 200 lists every binding, §10.3 step 8)."""
    seen: set[str] = set()
    for key in keys:
        if key in seen and key not in ("www-authenticate", "proxy-authenticate", "contact"):
            return False
        seen.add(key)
    return True


_EXPIRES_PARAM_RE = re.compile(r";[ \t]*expires[ \t]*=[ \t]*([0-9]{1,9})$", re.I)


def _contact_ok(value: str) -> bool:
    """Whether a Contact (one, maybe with a final ``expires``) parses; memoised by the text
    before that parameter, which changes as a binding ages."""
    if "," in value or value == "*":
        return False
    match = _EXPIRES_PARAM_RE.search(value)
    if match is not None:
        value = value[:match.start()]
    if not value.endswith(">"):
        return False
    known = _FROM_TEMPLATES.get(value)
    if known is None:
        Address.parse(value, "Contact")
        known = _FROM_TEMPLATES.put(value, True)
    return known
