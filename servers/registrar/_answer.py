"""How the registrar answers a request: through a server transaction (the full path)
or through the REGISTER fast path, behind one small interface.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Protocol

from testbed.sip import Response, Uri, make_response
from testbed.transport import Flow, ServerContext


class HeaderLookup(Protocol):
    def get_all(self, name: str) -> list[str]: ...


class RequestFields(Protocol):
    """What the registrar reads of a request it authenticates."""

    @property
    def method(self) -> str: ...

    @property
    def uri(self) -> Uri: ...

    @property
    def body(self) -> bytes: ...

    @property
    def headers(self) -> HeaderLookup: ...


class Answerable(Protocol):
    """What the registrar answers a request through: a server transaction's
    :class:`ServerContext`, or the REGISTER fast path's answer."""

    @property
    def request(self) -> RequestFields: ...

    @property
    def flow(self) -> Flow: ...

    def respond(self, status: int, reason: str | None = None, *, to_tag: str | None = None,
                headers: Iterable[tuple[str, object]] = (), body: bytes = b"") -> object: ...


class RegisterAnswer(Answerable, Protocol):
    """An :class:`Answerable` that also sends a REGISTER's 200 OK if it fits."""

    def send_ok(self, headers: list[tuple[str, str]], to_tag: str, limit: int) -> bool:
        """Send the 200 OK with ``headers`` (bindings, Date) and ``to_tag`` if it takes
        at most ``limit`` bytes; False (nothing sent) if not."""
        ...


class FullAnswer:
    """A server transaction's context, as the registrar answers a REGISTER through it."""

    def __init__(self, context: ServerContext) -> None:
        self.context = context
        self.request = context.request
        self.flow = context.flow

    def respond(self, status: int, reason: str | None = None, *, to_tag: str | None = None,
                headers: Iterable[tuple[str, object]] = (), body: bytes = b"") -> Response:
        return self.context.respond(status, reason, to_tag=to_tag, headers=headers, body=body)

    def send_ok(self, headers: list[tuple[str, str]], to_tag: str, limit: int) -> bool:
        response = make_response(self.request, 200, to_tag=to_tag, headers=headers)
        if not _fits(response, limit):
            return False
        self.context.send(response)
        return True


def _fits(response: Response, limit: int) -> bool:
    """Whether ``response`` serialises to at most ``limit`` bytes. Counted from its text
    (UTF-8 spends at most 4 bytes on a character); serialised only near the limit."""
    headers = response.headers
    chars = len(response.start_line()) + len(response.body) + 32 + 4 * len(headers) \
        + sum(map(len, itertools.chain.from_iterable(headers)))  # names and values
    return 4 * chars <= limit or len(response.to_bytes()) <= limit
