"""The live transactions of one SIP element, and the routing of messages to them.

:class:`TransactionTable` keeps the client transactions by :class:`ClientKey` and the
server transactions by :class:`ServerKey` (RFC 3261 §17.1.3, §17.2.3), creates a server
transaction for each new request, and gathers the deadlines of all of them in one heap,
so that the I/O layer arms a single timer.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from ._client_transaction import ClientTransaction, client_transaction
from ._errors import LocalProtocolError, RemoteProtocolError
from ._matching import ClientKey, ServerKey, client_key, rfc2543_matches, server_key
from ._message import Message, Request, Response
from ._server_transaction import ServerTransaction, server_transaction
from ._timer_values import Timers
from ._transaction import Action, Deliver, Transaction


@dataclass(frozen=True, slots=True)
class Routed:
    """The actions of one transaction, as :class:`TransactionTable` returns them.

    ``transaction`` is None when a message matched none: an ACK for a 2xx (passed to
    the TU) or a ``stray`` response, which is dropped (RFC 6026 §8.9) and flagged so the
    caller can report it. ``created`` is True when the message created a server
    transaction.
    """

    transaction: Transaction | None
    actions: list[Action]
    created: bool = False
    stray: bool = False


class TransactionTable:
    """The live transactions of one SIP element, by key (§17.1.3, §17.2.3).

    Routes received messages to their transaction, creating a server transaction for
    a new request (every element here is stateful); gives the earliest deadline of all
    and fires due timers; drops a transaction as soon as it is terminated.

    Every operation costs O(log n) in the number of live transactions, so that a
    registrar holding the Timer J of 32 s worth of requests keeps up with a load test:
    deadlines sit in a heap (one live entry per transaction; entries superseded by a
    later input are skipped when they surface and swept out when they pile up), and a
    transaction is dropped when an input routed through the table terminates it.
    Drive the table's transactions through the table: a timer armed behind its back is
    only seen when its transaction next goes through it.
    """

    def __init__(self, timers: Timers | None = None, *, send_trying: bool = True) -> None:
        self.timers = Timers() if timers is None else timers
        self.send_trying = send_trying
        self._clients: dict[ClientKey, ClientTransaction] = {}
        self._servers: dict[ServerKey, ServerTransaction] = {}
        # (deadline, sequence, transaction); the live entry of each is in _armed.
        self._heap: list[tuple[float, int, Transaction]] = []
        self._armed: dict[Transaction, tuple[float, int]] = {}
        self._sequence = itertools.count()
        self._stale = 0

    def __len__(self) -> int:
        self._collect()
        return len(self._clients) + len(self._servers)

    def __iter__(self) -> Iterator[Transaction]:
        self._collect()
        yield from list(self._clients.values())
        yield from list(self._servers.values())

    def get(self, key: ClientKey | ServerKey) -> Transaction | None:
        """The client transaction with this :class:`ClientKey` or the server transaction
        with this :class:`ServerKey` (the key's type says which table to look in).

        For the INVITE a CANCEL cancels: ``get(server_key(cancel)._replace(method="INVITE"))``
        (§9.2). Raises :class:`TypeError` for any other key, a plain tuple included.
        An empty table is answered at once (the registrar's fast path asks for every
        REGISTER it takes, and usually holds no transaction at all).
        """
        if isinstance(key, ClientKey):
            if not self._clients:
                return None
            self._collect()
            return self._clients.get(key)
        if isinstance(key, ServerKey):
            if not self._servers:
                return None
            self._collect()
            return self._servers.get(key)
        raise TypeError(f"get() takes a ClientKey or a ServerKey, not {type(key).__name__}")

    def start_client(self, request: Request, now: float, *, reliable: bool) -> Routed:
        """Create the client transaction for ``request`` and send it."""
        transaction = client_transaction(request, reliable=reliable, timers=self.timers)
        existing = self._live(self._clients.get(transaction.key))
        if existing is not None:
            raise LocalProtocolError(f"A client transaction {transaction.key} already exists")
        self._clients[transaction.key] = transaction
        return self._routed(transaction, transaction.send(request, now))

    def receive(self, message: Message, now: float, *, reliable: bool) -> Routed:
        """Route a message from the transport; ``reliable`` is the transport it came over.

        A response goes to its client transaction, or is stray. A request goes to its
        server transaction; an ACK that matches none is passed to the TU; any other
        request creates a server transaction (which passes it to the TU).

        A request from an RFC 2543 element (no magic cookie in its branch) matches as
        §17.2.3 says: its key holds the fields its responses copy, and the Request-URI
        and To tag are compared here. One that shares a live transaction's Call-ID,
        From tag, CSeq and top Via but not those is a merged request: it cannot have a
        transaction of its own, and raises :class:`RemoteProtocolError` with 482
        (Loop Detected, §8.2.2.2), which the caller answers statelessly.
        """
        if isinstance(message, Response):
            try:
                client = self._live(self._clients.get(client_key(message)))
            except RemoteProtocolError:  # no branch: cannot be an answer to us
                client = None
            if client is None:
                return Routed(None, [], stray=True)
            return self._routed(client, client.receive(message, now))
        if not isinstance(message, Request):
            raise TypeError(f"receive() takes a Request or Response, not {type(message).__name__}")
        key = server_key(message)
        server = self._live(self._servers.get(key))
        if server is not None and key.rfc2543 \
                and not rfc2543_matches(message, server.request, server.last_response):
            if message.method == "ACK":
                return Routed(None, [Deliver(message)])  # not this transaction's: the TU's
            raise RemoteProtocolError(
                "Loop Detected (merged request: another transaction has its Call-ID, "
                "From tag, CSeq and Via)", 482)
        if server is not None:
            return self._routed(server, server.receive(message, now))
        if message.method == "ACK":
            return Routed(None, [Deliver(message)])
        server = server_transaction(
            message, reliable=reliable, timers=self.timers, send_trying=self.send_trying
        )
        self._servers[key] = server
        return self._routed(server, server.receive(message, now), created=True)

    def send_response(self, response: Response, now: float) -> Routed:
        """Send a response from the TU on the server transaction it answers."""
        server = self._live(self._servers.get(server_key(response)))
        if server is None:
            raise LocalProtocolError(f"No server transaction for {response.start_line()!r}")
        return self._routed(server, server.send(response, now))

    def transport_error(self, transaction: Transaction, now: float, reason: str) -> Routed:
        """Report a transport failure to ``transaction`` (:meth:`Transaction.transport_error`)."""
        return self._routed(transaction, transaction.transport_error(now, reason))

    def next_deadline(self) -> float | None:
        """The earliest pending timer of all transactions, or None."""
        heap = self._heap
        while heap:
            deadline, sequence, transaction = heap[0]
            armed = self._armed.get(transaction)
            if armed is None or armed[1] != sequence:
                heapq.heappop(heap)  # superseded or forgotten
                self._stale -= 1
            elif transaction.terminated or transaction.next_deadline() != deadline:
                self._schedule(transaction)  # changed behind the table's back
            else:
                return deadline
        return None

    def on_timer(self, now: float) -> list[Routed]:
        """Fire every timer due at ``now``; the actions of each transaction that had one,
        earliest deadline first."""
        out: list[Routed] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, sequence, transaction = heapq.heappop(heap)
            armed = self._armed.get(transaction)
            if armed is None or armed[1] != sequence:
                self._stale -= 1
                continue
            del self._armed[transaction]
            due = transaction.next_deadline()
            if transaction.terminated or due is None or due > now:
                self._schedule(transaction)
                continue
            out.append(self._routed(transaction, transaction.on_timer(now)))
        return out

    def _routed(
        self, transaction: Transaction, actions: list[Action], created: bool = False
    ) -> Routed:
        self._schedule(transaction)
        return Routed(transaction, actions, created)

    def _live(self, transaction: Transaction | None) -> Transaction | None:
        """``transaction`` unless it is terminated (then it is forgotten)."""
        if transaction is not None and transaction.terminated:
            self._forget(transaction)
            return None
        return transaction

    def _schedule(self, transaction: Transaction) -> None:
        """Keep the heap entry of ``transaction`` in step with its next deadline; forget
        it once terminated (§17.1.1.2: the transaction is destroyed)."""
        if transaction.terminated:
            self._forget(transaction)
            return
        deadline = transaction.next_deadline()
        armed = self._armed.get(transaction)
        if armed is not None:
            if armed[0] == deadline:
                return
            self._stale += 1
        if deadline is None:
            self._armed.pop(transaction, None)
        else:
            sequence = next(self._sequence)
            self._armed[transaction] = (deadline, sequence)
            heapq.heappush(self._heap, (deadline, sequence, transaction))
        if self._stale > 1024 and self._stale > len(self._armed):
            self._sweep()

    def _forget(self, transaction: Transaction) -> None:
        key = transaction.key
        if isinstance(key, ClientKey):
            if self._clients.get(key) is transaction:
                del self._clients[key]
        elif self._servers.get(key) is transaction:
            del self._servers[key]
        if self._armed.pop(transaction, None) is not None:
            self._stale += 1

    def _sweep(self) -> None:
        """Rebuild the heap from the live entries only (amortised O(1) per input)."""
        self._heap = [(deadline, sequence, transaction)
                      for transaction, (deadline, sequence) in self._armed.items()]
        heapq.heapify(self._heap)
        self._stale = 0

    def _collect(self) -> None:
        """Drop terminated transactions, however they got there (§17.1.1.2: forget them)."""
        for table in (self._clients, self._servers):
            for transaction in [t for t in table.values() if t.terminated]:
                self._forget(transaction)



__all__ = ["Routed", "TransactionTable"]
