"""What the registrar's authorisation and limits cost per registration, in process.

A rate measured over sockets moves by more than the few per cent it should show
whenever something else loads the machine. This measures the registrar's own work
instead: two :class:`Registrar` s (hardening on: the defaults; off: ``registrar_policy:
any`` and no caps) answer the same digest registrations (REGISTER, 401, REGISTER with
credentials, 200) handed to them directly, in alternating rounds (which goes first
alternating too), and only the CPU
time (``time.process_time``) inside the registrar is counted. The minimum over the
rounds is the figure least disturbed by other processes. Parsing, transactions and
sockets are the same either way and are not counted; the connection policy is not
exercised (no connections).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any, cast

from twisted.internet.task import Clock

from servers.registrar import Registrar, RegistrarConfig
from testbed.reactor import IReactor
from testbed.sip import Challenge, Request, Transport, build_authorization

REALM = "example.com"
USERS = 1000


@dataclass
class _Flow:
    transport: Transport = Transport.UDP
    local: tuple[str, int] = ("127.0.0.1", 5060)
    remote: tuple[str, int] = ("127.0.0.2", 5070)
    closed: bool = False


@dataclass
class _Context:
    """A server transaction that keeps the final answer instead of sending it."""

    request: Request
    flow: _Flow = field(default_factory=_Flow)
    status: int = 0
    challenge: str = ""

    def respond(self, status: int, reason: str | None = None, *, to_tag: str | None = None,
                headers: Any = (), body: bytes = b"") -> None:
        self.status = status
        for name, value in headers:
            if name == "WWW-Authenticate":
                self.challenge = str(value)

    def send(self, response: Any) -> None:
        self.status = response.status


def _register(user: str, seq: int, credentials: str | None = None) -> Request:
    aor = f"sip:{user}@{REALM}"
    headers = [("Via", f"SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKcost{seq}"),
               ("From", f"<{aor}>;tag=1"), ("To", f"<{aor}>"),
               ("Call-ID", f"{user}-{seq}@cost"), ("CSeq", f"{seq} REGISTER"),
               ("Contact", f"<sip:{user}@127.0.0.2:5070>"), ("Expires", "3600")]
    if credentials is not None:
        headers.append(("Authorization", credentials))
    return Request("REGISTER", f"sip:{REALM}", headers, b"")


def _registrar(on: bool) -> tuple[Registrar, Clock]:
    users = {f"alice{n}": "secret" for n in range(USERS)}
    config = RegistrarConfig(realm=REALM, users=users) if on else RegistrarConfig(
        realm=REALM, users=users, registrar_policy="any", max_contacts=0, contact_max_size=0,
        max_aors=0)
    clock = Clock()
    # A Clock is the time part of a reactor: all a registrar fed by hand needs.
    return Registrar(cast(IReactor, clock), config, received_limit=1000), clock


def _round(registrar: Registrar, clock: Clock, count: int, first: int) -> float:
    """µs of registrar CPU per registration (both requests) over ``count`` of them."""
    spent = 0.0
    for n in range(first, first + count):
        clock.advance(0.001)
        user = f"alice{n % USERS}"
        challenged = _Context(_register(user, 2 * n + 1))
        started = time.process_time()
        registrar.request_received(challenged)  # type: ignore[arg-type]  # a recording fake
        spent += time.process_time() - started
        credentials = build_authorization(
            Challenge.parse(challenged.challenge), username=user, password="secret",
            method="REGISTER", uri=f"sip:{REALM}", cnonce="c0ffee", body=b"").to_header()
        admitted = _Context(_register(user, 2 * n + 2, credentials))
        started = time.process_time()
        registrar.request_received(admitted)  # type: ignore[arg-type]
        spent += time.process_time() - started
        if admitted.status != 200:
            raise RuntimeError(f"registration {n} answered {admitted.status}")
    return spent / count * 1e6


def registrar_cost(*, rounds: int = 20, per_round: int = 500) -> dict[str, Any]:
    """µs of registrar CPU per digest registration, hardening on and off: the minimum
    and the median over ``rounds`` alternating rounds, and their on/off ratios."""
    servers = {"on": _registrar(True), "off": _registrar(False)}
    samples: dict[str, list[float]] = {"on": [], "off": []}
    for index in range(rounds):
        for mode in ("on", "off") if index % 2 == 0 else ("off", "on"):  # no order bias
            registrar, clock = servers[mode]
            samples[mode].append(_round(registrar, clock, per_round, index * per_round))
    figures: dict[str, Any] = {mode: {"min_us": min(values),
                                      "median_us": statistics.median(values)}
                               for mode, values in samples.items()}
    figures["ratio_min"] = figures["on"]["min_us"] / figures["off"]["min_us"]
    figures["ratio_median"] = figures["on"]["median_us"] / figures["off"]["median_us"]
    figures["registrations"] = rounds * per_round
    return figures
