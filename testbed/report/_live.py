"""What a served world sees, as it happens: one line per message, and the full log.

``testbed serve`` feeds a :class:`LiveLog` with the trace events of its servers and
relays (:meth:`LiveLog.event`) and its DNS server's queries (:meth:`LiveLog.dns`). Each
becomes one terminal line (:func:`live_line`)::

  14:02:03.456  127.0.0.1:4031 -> pbx 127.7.1.2:5060  UDP  REGISTER sip:x (CSeq 1 REGISTER)  512 B

and, with a ``messages`` file, the same header followed by the whole message, written
as it comes (the world keeps only its last moments in memory; the file has all). The
world's own client is not shown: a served world is for the phones outside it.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from datetime import datetime
from pathlib import Path

from servers.dns import QueryLogEntry
from testbed.reactor import IReactorTime
from testbed.sip import fmt_hostport
from testbed.transport import HostPort, TraceEvent

from ._streamed import StreamedFile

_MESSAGES = ("sent", "received")
_HIDDEN = ("listening", "connecting")  # a server's own set-up, and the relay's dialling
_SENT_KINDS = ("sent", "keepalive-sent", "connect-failed", "send-failed")


def clock_time(seconds: float) -> str:
    """``HH:MM:SS.mmm``, local time, of a reactor timestamp (the real reactor's clock)."""
    return datetime.fromtimestamp(seconds).strftime("%H:%M:%S.%f")[:-3]


def _side(address: HostPort | None, names: Mapping[str | HostPort, str]) -> str:
    if address is None:
        return "?"
    name = names.get(address) or names.get(address[0])
    return f"{name} {fmt_hostport(address)}" if name else fmt_hostport(address)


def live_line(event: TraceEvent, names: Mapping[str | HostPort, str]) -> str:
    """One line for a trace event: time, from -> to, transport, what, size.

    A message a server received goes from the peer to the server (named by ``names``
    or by the trace's owner); one it sent, the other way. Anything else (a connection
    opened or closed, a TLS failure, a fault's drop) says what happened in brackets.
    """
    named = dict(names)
    if event.local is not None and event.owner and event.owner != "faults":
        named.setdefault(event.local, event.owner)
    if event.kind in _SENT_KINDS:
        src, dst = event.local, event.remote
    else:
        src, dst = event.remote, event.local
    route = f"{_side(src, named)} -> {_side(dst, named)}"
    if event.kind in _MESSAGES:
        what = event.summary
        size = f"  {len(event.data)} B"
    else:
        what = event.summary if event.kind == "note" else f"[{event.kind}] {event.summary}"
        size = ""
    if event.detail:
        what += f" ({event.detail})"
    return f"{clock_time(event.time)}  {route}  {event.transport}  {what}{size}"



def dns_line(entry: QueryLogEntry, server: HostPort | None) -> str:
    """One line for a DNS query and what the server answered (or did not)."""
    route = f"{fmt_hostport(entry.client)} -> dns {fmt_hostport(server) if server else '?'}"
    if entry.rcode is None:
        answer = "no answer"
    elif len(entry.answer) == 1:
        answer = f"{entry.rcode}: {entry.answer[0].split(None, 3)[-1]}"  # the record's data
    else:
        answer = entry.rcode + (f", {len(entry.answer)} answers" if entry.answer else "")
    if entry.truncated:
        answer += " (truncated)"
    extra = "; ".join(part for part in (f"fault {entry.fault}" if entry.fault else "",
                                        entry.note) if part)
    size = f"  {entry.size} B" if entry.size else ""
    return (f"{clock_time(entry.time)}  {route}  {entry.transport.upper()}  DNS {entry.qtype} "
            f"{entry.qname} -> {answer}{f' ({extra})' if extra else ''}{size}")


class LiveLog:
    """Lines for what a served world sees: to ``echo`` (the terminal, unless quiet) and
    to a ``messages`` file (each message in full), as they happen.

    ``owners`` are the trace owners shown (the world's registrars and its relays);
    ``names`` name addresses (fault proxies, external registrars). A write error on the
    file stops the file with one logged line (:attr:`error`); serving goes on.
    """

    def __init__(self, owners: Container[str], names: Mapping[str | HostPort, str], *,
                 echo: Callable[[str], None] | None = None, messages: Path | None = None,
                 dns_server: HostPort | None = None,
                 clock: IReactorTime | None = None) -> None:
        self.owners = owners
        self.names = names
        self.echo = echo
        self.dns_server = dns_server
        self.path = messages
        self.lines = 0
        self._out: StreamedFile | None = None
        if messages is not None:
            messages.parent.mkdir(parents=True, exist_ok=True)
            self._out = StreamedFile(messages.open("w", encoding="utf-8"),
                                     label=f"message log {messages}",
                                     stopped="writing stopped", clock=clock)

    @property
    def error(self) -> str | None:
        """Why the message log stopped, if it did."""
        return self._out.error if self._out is not None else None

    def event(self, event: TraceEvent) -> None:
        """A trace listener: every event of a shown owner."""
        if event.owner not in self.owners or event.kind in _HIDDEN:
            return
        line = live_line(event, self.names)
        body = None
        if event.kind in _MESSAGES:
            text = event.data.decode("utf-8", errors="backslashreplace").replace("\r\n", "\n")
            body = text.rstrip("\n") if text.strip() else repr(event.data)
        self._emit(line, body)

    def dns(self, entry: QueryLogEntry) -> None:
        """A DNS server's ``on_query``: every query and its answer (the records in full
        in the file)."""
        self._emit(dns_line(entry, self.dns_server), "\n".join(entry.answer) or None)

    def _emit(self, line: str, body: str | None) -> None:
        self.lines += 1
        if self.echo is not None:
            self.echo(line)
        out = self._out
        if out is None or out.file is None:
            return
        try:
            out.file.write(f"=== {line}\n{body}\n\n" if body is not None else f"--- {line}\n")
        except OSError as exc:
            out.fail(exc)
            return
        out.flush_soon()

    def flush(self) -> None:
        if self._out is not None:
            self._out.flush()

    def close(self) -> None:
        """Flush and close the file; lines that come later go to ``echo`` only."""
        if self._out is not None:
            self._out.close()
