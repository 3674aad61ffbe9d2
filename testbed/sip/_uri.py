"""SIP and SIPS URIs (RFC 3261 §19.1, §25.1), with other schemes passed through.

``parse_uri("sip:alice@[2001:db8::1]:5070;transport=tcp?subject=hi")`` gives a
:class:`SipUri`; ``tel:`` and any other absolute URI give an :class:`AbsoluteUri` that
serialises back unchanged. Components keep their %-escapes as received so a URI
round-trips byte for byte; :meth:`SipUri.user_unescaped` decodes them.
:func:`uris_equal` compares two URIs as RFC 3261 §19.1.4 says.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass
from typing import TypedDict, Unpack
from urllib.parse import unquote

from ._errors import RemoteProtocolError
from ._grammar import Params, format_params, get_param, set_param
from ._memo import memoised

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_HOSTNAME_RE = re.compile(r"(?:[A-Za-z0-9_](?:[A-Za-z0-9_\-]*[A-Za-z0-9_])?\.)*"
                          r"[A-Za-z0-9_](?:[A-Za-z0-9_\-]*[A-Za-z0-9_])?\.?")
# Characters never allowed raw in a URI component (they must be %-escaped).
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\U0010ffff<>\"\\{}|^]")


class SipUriChanges(TypedDict, total=False):
    """The fields :meth:`SipUri.replace` may change, with their types."""

    host: str
    user: str | None
    password: str | None
    port: int | None
    params: Params
    headers: tuple[tuple[str, str], ...]
    scheme: str


@dataclass(frozen=True, slots=True)
class SipUri:
    """A ``sip:`` or ``sips:`` URI. ``host`` holds an IPv6 address without brackets."""

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: Params = ()
    headers: tuple[tuple[str, str], ...] = ()
    scheme: str = "sip"

    @property
    def secure(self) -> bool:
        """True for ``sips:`` (RFC 3261 §19.1: TLS on every hop)."""
        return self.scheme == "sips"

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter, lower-cased, or None."""
        value = get_param(self.params, "transport")
        return value.lower() if value else None

    @property
    def maddr(self) -> str | None:
        return get_param(self.params, "maddr")

    @property
    def lr(self) -> bool:
        """Loose-routing flag (RFC 3261 §19.1.1)."""
        return get_param(self.params, "lr") is not None

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.host

    @property
    def host_port(self) -> str:
        """``host[:port]`` with brackets around an IPv6 address."""
        host = f"[{self.host}]" if self.is_ipv6 else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def user_unescaped(self) -> str | None:
        return None if self.user is None else unquote(self.user, errors="surrogateescape")

    def param(self, name: str) -> str | None:
        """Value of a URI parameter (``""`` for a flag), None if absent."""
        return get_param(self.params, name)

    def with_param(self, name: str, value: str | None = None) -> SipUri:
        return dataclasses.replace(self, params=set_param(self.params, name, value))

    def replace(self, **changes: Unpack[SipUriChanges]) -> SipUri:
        """A copy with the fields named in ``changes`` replaced."""
        return dataclasses.replace(self, **changes)

    def __str__(self) -> str:
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(self.user)
            if self.password is not None:
                parts += [":", self.password]
            parts.append("@")
        parts.append(self.host_port)
        parts.append(format_params(self.params))
        if self.headers:
            parts.append("?" + "&".join(f"{k}={v}" for k, v in self.headers))
        return "".join(parts)


@dataclass(frozen=True, slots=True)
class AbsoluteUri:
    """Any non-SIP URI (``tel:``, ``urn:``, ``mailto:``...), kept as text (RFC 3261 §19.1.6)."""

    scheme: str
    opaque: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"


Uri = SipUri | AbsoluteUri


def _check_component(text: str, what: str) -> None:
    if _FORBIDDEN.search(text):
        raise RemoteProtocolError(f"Invalid character in URI {what}".rstrip())


def parse_host(text: str) -> str:
    """Validate a host (hostname, IPv4 or bracketed IPv6) and return it without brackets."""
    if text.startswith("["):
        if not text.endswith("]"):
            raise RemoteProtocolError("Unterminated IPv6 reference")
        try:
            ipaddress.IPv6Address(text[1:-1])
        except ValueError:
            raise RemoteProtocolError(f"Invalid IPv6 reference {text[:50]!r}") from None
        return text[1:-1]
    if not _HOSTNAME_RE.fullmatch(text):
        raise RemoteProtocolError(f"Invalid host {text[:50]!r}")
    return text


def parse_port(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) > 65535:
        raise RemoteProtocolError(f"Invalid port {text[:20]!r}")
    return int(text)


def split_host_port(text: str) -> tuple[str, int | None]:
    """Split ``host[:port]`` (IPv6 in brackets) into a validated host and port."""
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise RemoteProtocolError("Unterminated IPv6 reference")
        host, rest = text[: close + 1], text[close + 1 :]
        if rest and not rest.startswith(":"):
            raise RemoteProtocolError(f"Invalid host {text[:50]!r}")
        port_text = rest[1:] if rest else None
    else:
        host, sep, port_text = text.partition(":")
        if not sep:
            port_text = None
    return parse_host(host), None if port_text is None else parse_port(port_text)


def _parse_uri_params(text: str) -> Params:
    params = []
    for item in text.split(";"):
        name, sep, value = item.partition("=")
        if not name:
            raise RemoteProtocolError("Empty URI parameter")
        if sep and not value:
            raise RemoteProtocolError(f"Empty value for URI parameter {name!r}")
        params.append((name.lower(), value if sep else None))
    return tuple(params)


def _parse_uri_headers(text: str) -> tuple[tuple[str, str], ...]:
    headers = []
    for item in text.split("&"):
        name, sep, value = item.partition("=")
        if not name or not sep:
            raise RemoteProtocolError("Malformed URI header")
        headers.append((name, value))
    return tuple(headers)


@memoised
def parse_uri(text: str) -> Uri:
    """Parse a URI; ``sip:``/``sips:`` strictly (RFC 3261 §25.1), others as opaque text.

    Memoised: URIs are immutable values, and the same texts come back in every message
    of a dialog or a registration.
    """
    scheme, sep, rest = text.partition(":")
    if not sep or not _SCHEME_RE.fullmatch(scheme):
        raise RemoteProtocolError(f"Invalid URI {text[:60]!r}")
    scheme = scheme.lower()
    _check_component(rest, "")
    if scheme not in ("sip", "sips"):
        if not rest:
            raise RemoteProtocolError(f"Empty {scheme}: URI")
        return AbsoluteUri(scheme, rest)
    user = password = None
    # user and password can hold ";" "?" "," but never a raw "@": the first "@"
    # ends the userinfo (RFC 3261 §25.1, user-unreserved).
    at = rest.find("@")
    if at >= 0:
        user, colon, pw = rest[:at].partition(":")
        password = pw if colon else None
        if not user:
            raise RemoteProtocolError("Empty user in SIP URI")
        rest = rest[at + 1 :]
    hostport, qmark, headers_text = rest.partition("?")
    hostport, semi, params_text = hostport.partition(";")
    if not hostport:
        raise RemoteProtocolError("Missing host in SIP URI")
    host, port = split_host_port(hostport)
    return SipUri(
        host=host,
        user=user,
        password=password,
        port=port,
        params=_parse_uri_params(params_text) if semi else (),
        headers=_parse_uri_headers(headers_text) if qmark else (),
        scheme=scheme,
    )


# -- equality (RFC 3261 §19.1.4) ---------------------------------------------------------

# §19.1.4: these parameters, present in one URI, must be present in the other and match.
_PARAMS_IN_BOTH = frozenset(("user", "ttl", "method", "maddr", "transport"))


def _unescaped(text: str) -> str:
    return unquote(text, errors="surrogateescape")


def _host_key(host: str) -> str:
    """A host as §19.1.4 compares it: case-insensitively, an IP address by its value."""
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host.lower()


def uris_equal(a: Uri, b: Uri) -> bool:
    """True when ``a`` and ``b`` are equal by RFC 3261 §19.1.4.

    A SIP and a SIPS URI never are. The userinfo compares case-sensitively, everything
    else case-insensitively, and %-escapes compare as the characters they stand for. A
    port, or a ``user``, ``ttl``, ``method``, ``maddr`` or ``transport`` parameter, in one
    URI must be in the other with the same value (an absent port is not 5060); any other
    parameter is compared only when both URIs carry it; headers must all be in both.
    Other schemes compare by scheme and the rest of the text, exactly.
    """
    if isinstance(a, AbsoluteUri) or isinstance(b, AbsoluteUri):
        return (isinstance(a, AbsoluteUri) and isinstance(b, AbsoluteUri)
                and a.scheme.lower() == b.scheme.lower() and a.opaque == b.opaque)
    if a is b:
        return True
    if a.scheme != b.scheme or a.port != b.port or _host_key(a.host) != _host_key(b.host):
        return False
    for x, y in ((a.user, b.user), (a.password, b.password)):
        if (x is None) != (y is None) or (x is not None and _unescaped(x) != _unescaped(y or "")):
            return False
    params_a, params_b = _param_map(a.params), _param_map(b.params)
    for name in params_a.keys() | params_b.keys():
        if name in params_a and name in params_b:
            if params_a[name] != params_b[name]:
                return False
        elif name in _PARAMS_IN_BOTH:
            return False
    return _header_set(a.headers) == _header_set(b.headers)


def _param_map(params: Params) -> dict[str, str]:
    return {name: _unescaped(value or "").lower() for name, value in params}


def _header_set(headers: tuple[tuple[str, str], ...]) -> frozenset[tuple[str, str]]:
    return frozenset((_unescaped(name).lower(), _unescaped(value)) for name, value in headers)
