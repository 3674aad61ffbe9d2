"""Which transaction a message belongs to (RFC 3261 §17.1.3, §17.2.3), and new branches.

A client transaction is keyed by :class:`ClientKey` (branch, method), a server
transaction by :class:`ServerKey` (branch, sent-by, method): two small typed values, so
that a table tells them apart by type, never by length. Only RFC 3261 branches (with
the magic cookie's uniqueness) are matched; RFC 2543 matching is not implemented.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING, NamedTuple

from ._errors import RemoteProtocolError
from ._headers import BRANCH_MAGIC_COOKIE
from ._memo import memoised
from ._message import Message, Request, top_via_of

if TYPE_CHECKING:  # only the type: callers pass their own seeded generator
    import random


class ClientKey(NamedTuple):
    """The key of a client transaction (RFC 3261 §17.1.3): top Via branch, method."""

    branch: str
    method: str


class ServerKey(NamedTuple):
    """The key of a server transaction (RFC 3261 §17.2.3): top Via branch and sent-by,
    method. ``key._replace(method="INVITE")`` is the INVITE a CANCEL cancels (§9.2)."""

    branch: str
    sent_by: str
    method: str


@memoised
def _via_key_of(line: str) -> tuple[str, str]:
    """(branch, sent-by) of the top Via of a Via header line, lower-cased; memoised, as
    every message is matched several times on its way (table, transaction, response)."""
    via = top_via_of(line)
    branch = via.branch
    if not branch:
        raise RemoteProtocolError(
            "Top Via has no branch parameter (RFC 2543 transaction matching is not supported)"
        )
    # §7.3.1: parameter values compare case-insensitively unless stated otherwise.
    return branch.lower(), via.sent_by.lower()


def _via_key(message: Message) -> tuple[str, str]:
    line = message.headers.get("Via")
    if line is None:
        raise RemoteProtocolError("Missing Via header")
    return _via_key_of(line)


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
    Raises :class:`RemoteProtocolError` when the top Via has no branch: RFC 2543
    matching is not implemented.
    """
    return ClientKey(_via_key(message)[0], _method(message))


def server_key(message: Message) -> ServerKey:
    """The server transaction a message belongs to: ``(branch, sent-by, method)`` (§17.2.3).

    Built from a request (ACK counting as INVITE, so the ACK of a non-2xx response
    matches the INVITE server transaction) or from a response the TU sends (its Via and
    CSeq are copied from the request). A CANCEL has its own key: same branch and
    sent-by as the INVITE, method CANCEL (§9.2). Raises :class:`RemoteProtocolError`
    when the top Via has no branch: RFC 2543 matching (§17.2.3, To tag, Call-ID...)
    is not implemented.
    """
    branch, sent_by = _via_key(message)
    return ServerKey(branch, sent_by, _method(message))


_BRANCH_CHARS = string.ascii_letters + string.digits


def new_branch(rng: random.Random, length: int = 16) -> str:
    """A fresh RFC 3261 branch: the magic cookie ``z9hG4bK`` and ``length`` token chars.

    ``rng`` is the caller's seeded generator, so that runs repeat (§8.1.1.7 asks for
    uniqueness in space and time: 16 alphanumerics carry 95 bits).
    """
    return BRANCH_MAGIC_COOKIE + "".join(rng.choices(_BRANCH_CHARS, k=length))



__all__ = ["ClientKey", "ServerKey", "client_key", "new_branch", "server_key"]
