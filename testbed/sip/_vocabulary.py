"""The project's one vocabulary: transports, their default ports, addresses, durations.

Every layer speaks of transports with :class:`Transport` (``Transport.UDP`` is equal to
the string ``"UDP"``, the spelling of a Via header); scenario files and command-line
flags keep their lower-case spelling (``udp``) and are read with :meth:`Transport.parse`.
There is one table of default ports, one ``host:port`` formatter and one duration
parser, so a rule about any of them lives here and nowhere else.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from enum import StrEnum


class Transport(StrEnum):
    """A SIP transport as written in a Via header (RFC 3261 §18, RFC 7118 §5)."""

    UDP = "UDP"
    TCP = "TCP"
    TLS = "TLS"
    WS = "WS"
    WSS = "WSS"

    @classmethod
    def parse(cls, text: str) -> Transport:
        """``udp``, ``UDP``, ``Udp`` → :attr:`UDP`; :class:`ValueError` names the choices."""
        try:
            return cls(text.upper())
        except (ValueError, AttributeError):
            raise ValueError(f"unknown transport {text!r}; expected one of "
                             + ", ".join(t.spelling for t in cls)) from None

    def __repr__(self) -> str:
        """``'UDP'``, as the string it stands for (messages and tuples show it so)."""
        return repr(self.value)

    @property
    def spelling(self) -> str:
        """The lower-case spelling of scenario files, flags and URI parameters."""
        return self.value.lower()

    @property
    def reliable(self) -> bool:
        """Carried by a stream: no retransmissions (RFC 3261 §17.1.1.2)."""
        return self is not Transport.UDP

    @property
    def secure(self) -> bool:
        """Runs over TLS (a ``sips:`` URI needs one of these, RFC 3261 §26.2)."""
        return self in (Transport.TLS, Transport.WSS)

    @property
    def carrier(self) -> Transport:
        """The IP transport underneath: UDP, or TCP for TCP, TLS, WS and WSS."""
        return Transport.UDP if self is Transport.UDP else Transport.TCP

    @property
    def default_port(self) -> int:
        """The port a URI without one means (RFC 3261 §19.1.2, RFC 7118 §5)."""
        return DEFAULT_PORTS[self]

    @property
    def contact_param(self) -> str | None:
        """The ``transport=`` URI parameter of a contact on this transport, if any.

        UDP is the default and needs none; RFC 7118 §5.2 writes ``ws`` for both WS and
        WSS contacts (the security is the flow's, not the URI's).
        """
        if self is Transport.UDP:
            return None
        return "ws" if self in (Transport.WS, Transport.WSS) else self.spelling


DEFAULT_PORTS: Mapping[Transport, int] = {
    Transport.UDP: 5060, Transport.TCP: 5060, Transport.TLS: 5061,
    Transport.WS: 80, Transport.WSS: 443,
}
"""Default ports per transport (RFC 3261 §19.1.2; RFC 7118 §5 for WebSocket)."""

MODES: tuple[str, ...] = ("udp", "tcp", "tls", "wss", "auto")
"""The client's transport modes as users spell them; ``auto`` is RFC 3263 discovery."""

AUTO = "auto"


def fmt_hostport(hostport: tuple[str, int] | None) -> str:
    """``host:port``, with brackets around an IPv6 address; ``-`` for none."""
    if hostport is None:
        return "-"
    host, port = hostport[0], hostport[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class DurationError(ValueError):
    """A duration that cannot be read; the message says what was expected, in words."""


_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(ms|s|min|h)?\s*")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: object, *, allow_zero: bool = True) -> float:
    """Seconds from a number of seconds or a string: ``"300ms"``, ``"1.5s"``, ``"2min"``.

    Raises :class:`DurationError` with a sentence a user can act on.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise DurationError(f"expected a duration such as 500ms, 2s or 1.5 (seconds), "
                            f"got {value!r}")
    if isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match is None:
            raise DurationError(f"expected a duration such as 500ms, 2s, 5min or 1.5 "
                                f"(seconds), got {value!r}")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        least = "0 or more" if allow_zero else "more than 0"
        raise DurationError(f"expected a duration of {least} seconds, got {value!r}")
    return seconds


__all__ = ["AUTO", "DEFAULT_PORTS", "MODES", "DurationError", "Transport", "fmt_hostport",
           "parse_duration"]
