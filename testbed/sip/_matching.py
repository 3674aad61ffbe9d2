"""Which transaction a message belongs to (RFC 3261 §17.1.3, §17.2.3), and new branches.

A client transaction is keyed by :class:`ClientKey` (branch, method), a server
transaction by :class:`ServerKey` (branch, sent-by, method): two small typed values, so
that a table tells them apart by type, never by length.

A request whose top Via has no branch, or one without the magic cookie, comes from an
RFC 2543 element (§17.2.3): its server key holds, instead of the branch, the fields
RFC 2543 matching compares that every response copies (Call-ID, From tag, CSeq number,
top Via, see :func:`rfc2543_identity`), so that the TU's responses find the transaction
as RFC 3261 ones do. The two fields a response does not carry (Request-URI, To tag) are
compared by :func:`rfc2543_matches` once the key found a transaction.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING, NamedTuple

from ._errors import RemoteProtocolError
from ._headers import BRANCH_MAGIC_COOKIE
from ._memo import memoised
from ._message import Message, Request, Response, top_via_of
from ._uri import uris_equal

if TYPE_CHECKING:  # only the type: callers pass their own seeded generator
    import random


class ClientKey(NamedTuple):
    """The key of a client transaction (RFC 3261 §17.1.3): top Via branch, method."""

    branch: str
    method: str


class ServerKey(NamedTuple):
    """The key of a server transaction (RFC 3261 §17.2.3): top Via branch and sent-by,
    method. ``key._replace(method="INVITE")`` is the INVITE a CANCEL cancels (§9.2).

    For a request from an RFC 2543 element ``branch`` is its :func:`rfc2543_identity`
    (never a token, so never an RFC 3261 branch); :attr:`rfc2543` says which."""

    branch: str
    sent_by: str
    method: str

    @property
    def rfc2543(self) -> bool:
        """True for the key of a request from an RFC 2543 element (§17.2.3)."""
        return self.branch.startswith(_RFC2543)


_COOKIE = BRANCH_MAGIC_COOKIE.lower()
_RFC2543 = "rfc2543 "  # a space: no RFC 3261 branch (a token) starts so


@memoised
def _via_key_of(line: str) -> tuple[str, str, bool]:
    """(branch, sent-by, RFC 3261 branch?) of the top Via of a Via header line,
    lower-cased, the branch "" when there is none; memoised, as every message is matched
    several times on its way (table, transaction, response)."""
    via = top_via_of(line)
    # §7.3.1: parameter values compare case-insensitively unless stated otherwise.
    branch = (via.branch or "").lower()
    return branch, via.sent_by.lower(), branch.startswith(_COOKIE)


def _via_key(message: Message) -> tuple[str, str, bool]:
    line = message.headers.get("Via")
    if line is None:
        raise RemoteProtocolError("Missing Via header")
    return _via_key_of(line)


def _top_via_as_compared(message: Message) -> str:
    """The top Via as RFC 2543 matching compares it: lower-cased (§7.3.1), its
    parameters in any order (§20.42)."""
    via = message.top_via
    params = ";".join(sorted(f"{name}={value or ''}" for name, value in via.params))
    return f"{via.transport}/{via.sent_by};{params}".lower()


def _method(message: Message) -> str:
    method = message.method if isinstance(message, Request) else message.cseq.method
    # The ACK for a non-2xx response belongs to the INVITE transaction (§17.1.1.3, §17.2.3).
    return "INVITE" if method == "ACK" else method



def client_key(message: Message) -> ClientKey:
    """The client transaction a message belongs to: ``(branch, method)`` (RFC 3261 §17.1.3).

    For a response: the branch of its top Via and the method of its CSeq, which tells
    a CANCEL apart from the INVITE it cancels (same branch, §9.1). For a request: its
    branch and method, ACK counting as INVITE (the ACK of a non-2xx response is part of
    the INVITE client transaction, §17.1.1.3). The branch is compared case-insensitively.
    Raises :class:`RemoteProtocolError` when the top Via has no branch: we send none
    such, so a response without one answers nothing of ours.
    """
    branch = _via_key(message)[0]
    if not branch:
        raise RemoteProtocolError("Top Via has no branch parameter (an RFC 2543 message)")
    return ClientKey(branch, _method(message))


def server_key(message: Message) -> ServerKey:
    """The server transaction a message belongs to: ``(branch, sent-by, method)`` (§17.2.3).

    Built from a request (ACK counting as INVITE, so the ACK of a non-2xx response
    matches the INVITE server transaction) or from a response the TU sends (its Via and
    CSeq are copied from the request). A CANCEL has its own key: same branch and
    sent-by as the INVITE, method CANCEL (§9.2). A top Via without a branch, or with
    one lacking the magic cookie, gives the RFC 2543 key (:func:`rfc2543_identity`).
    """
    branch, sent_by, rfc3261 = _via_key(message)
    if not rfc3261:
        branch = rfc2543_identity(message)
    return ServerKey(branch, sent_by, _method(message))


def rfc2543_identity(message: Message) -> str:
    """What RFC 2543 matching compares of a request that its responses copy (§17.2.3):
    Call-ID, From tag, CSeq number (the method is the key's own) and the top Via.

    Call-IDs compare case-sensitively (§20.8), tags and the Via case-insensitively.
    """
    from_tag = (message.from_.tag or "").lower()
    top_via = _top_via_as_compared(message)
    return f"{_RFC2543}{message.call_id} {from_tag} {message.cseq.seq} {top_via}"


def rfc2543_matches(request: Request, created_by: Request,
                    last_response: Response | None) -> bool:
    """Whether ``request`` matches the transaction ``created_by`` started, by the two
    fields of RFC 3261 §17.2.3 its key cannot hold: the Request-URI (§19.1.4) and the
    To tag. An ACK's To tag is compared with that of the response the transaction sent
    (``last_response``); any other request's with that of ``created_by``.
    """
    if not uris_equal(request.uri, created_by.uri):
        return False
    theirs = request.to.tag
    if request.method == "ACK":
        ours = last_response.to.tag if last_response is not None else None
    else:
        ours = created_by.to.tag
    return (theirs or "").lower() == (ours or "").lower()


_BRANCH_CHARS = string.ascii_letters + string.digits


def new_branch(rng: random.Random, length: int = 16) -> str:
    """A fresh RFC 3261 branch: the magic cookie ``z9hG4bK`` and ``length`` token chars.

    ``rng`` is the caller's seeded generator, so that runs repeat (§8.1.1.7 asks for
    uniqueness in space and time: 16 alphanumerics carry 95 bits).
    """
    return BRANCH_MAGIC_COOKIE + "".join(rng.choices(_BRANCH_CHARS, k=length))



__all__ = ["ClientKey", "ServerKey", "client_key", "new_branch", "rfc2543_identity",
           "rfc2543_matches", "server_key"]
