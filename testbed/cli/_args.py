"""What the commands share: argument types, the connection flags, usage errors.

Each type turns one flag's text into a value or raises ``ArgumentTypeError`` with a
sentence, which argparse prints as one line with exit code 2.
"""

from __future__ import annotations

import argparse

from testbed.sip import (
    MODES,
    DurationError,
    RemoteProtocolError,
    SipUri,
    Transport,
    parse_duration,
    parse_uri,
)


class UsageError(Exception):
    """A mistake in the command line: printed as one line, exit code 2."""


def sip_uri(text: str) -> SipUri:
    """A SIP URI; ``sip:`` may be left out (``example.com`` is ``sip:example.com``)."""
    has_scheme = text.lower().startswith(("sip:", "sips:"))
    candidate = text if has_scheme else f"sip:{text}"
    try:
        uri = parse_uri(candidate)
    except RemoteProtocolError as exc:
        raise argparse.ArgumentTypeError(f"not a SIP URI: {text!r} ({exc.reason})") from None
    if not isinstance(uri, SipUri):
        raise argparse.ArgumentTypeError(f"not a SIP URI: {text!r}")
    return uri


def host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (an IPv6 host in brackets)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def host_map(text: str) -> tuple[str, str]:
    """``NAME=ADDRESS``, a static name to address mapping."""
    name, sep, address = text.partition("=")
    if not sep or not name or not address:
        raise argparse.ArgumentTypeError(f"expected NAME=ADDRESS, got {text!r}")
    return name.lower(), address


def duration(text: str) -> float:
    """A positive duration in seconds: ``500ms``, ``2s``, ``1.5``."""
    try:
        return parse_duration(text, allow_zero=False)
    except DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def add_transport_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--transport udp|tcp|tls|wss|auto`` (default udp)."""
    parser.add_argument("--transport", default="udp", choices=MODES, help=help)


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """The flags that say how the client reaches a registrar (register and load)."""
    parser.add_argument("--dns", type=host_port, action="append", default=[],
                        metavar="HOST:PORT", help="DNS server to resolve through (repeatable)")
    parser.add_argument("--host", type=host_map, action="append", default=[],
                        metavar="NAME=ADDRESS", help="static name to address mapping")
    trust = parser.add_mutually_exclusive_group()
    trust.add_argument("--ca", metavar="FILE", help="CA certificate(s) to trust for TLS/WSS")
    trust.add_argument("--insecure", action="store_true",
                       help="do not verify the server certificate (still reports problems)")
    parser.add_argument("--server-name", help="TLS name to verify (default: the URI host)")
    parser.add_argument("--ws-path", default="/", help="WebSocket path for wss (default /)")
    parser.add_argument("--t1", type=duration, default=0.5,
                        help="SIP T1 (default 500ms; Timer F = 64*T1)")
    parser.add_argument("--local", default="127.0.0.1", help="local address to bind")


def transport_list(text: str) -> tuple[Transport, ...]:
    """``udp,tcp,tls,wss``: transports in the order given, each once."""
    try:
        transports = [Transport.parse(name.strip()) for name in text.split(",") if name.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not transports:
        raise argparse.ArgumentTypeError("expected transports such as udp,tcp,tls,wss")
    return tuple(dict.fromkeys(transports))
