"""One target of a live deployment, probed the way the quick reference asks.

For one (transport, target): connect (TCP, the TLS handshake with the certificate's
details, the WebSocket upgrade), send OPTIONS, REGISTER with digest when credentials are
given (and remove the binding again), and over UDP an OPTIONS padded to about 1,400
bytes, which exposes a path that drops large datagrams (RFC 3261 §18.1.1's reason to
move big requests to TCP). The user agent does the work; the diagnosis judges it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from testbed.client import ClientConfig, Outcome, StaticLocator, UserAgent
from testbed.diagnosis import Diagnosis, Finding, diagnose
from testbed.dns import Target
from testbed.reactor import IReactor
from testbed.sip import SipUri, Timers, Transport, fmt_hostport

LARGE_REQUEST = 1400
"""Bytes of the padded OPTIONS sent over UDP: near a 1,500-byte path MTU."""

REGISTER_EXPIRES = 60
"""The check's binding lives a minute at most, and is removed as soon as it is made."""


@dataclass
class ProbeSettings:
    """How to reach and authenticate at the deployment."""

    uri: SipUri
    user: str | None = None
    password: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    server_name: str | None = None
    ws_path: str = "/"
    timers: Timers = field(default_factory=Timers)
    local_host: str = "127.0.0.1"
    connect_timeout: float = 5.0


@dataclass
class TargetCheck:
    """The verdict on one transport at one target, with everything that led to it."""

    transport: Transport
    target: str
    advertised: str
    ok: bool
    diagnosis: Diagnosis
    steps: list[str] = field(default_factory=list)
    certificate: str | None = None

    @property
    def row(self) -> str:
        return self.diagnosis.row

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.diagnosis.findings

    @property
    def evidence(self) -> list[str]:
        return list(self.diagnosis.evidence) + self.steps


def target_name(target: Target) -> str:
    """``host:port`` as advertised, with the address when the host is a name."""
    where = fmt_hostport((target.host, target.port))
    if target.address and target.address != target.host:
        where += f" ({target.address})"
    return where


async def probe(reactor: IReactor, settings: ProbeSettings, target: Target) -> TargetCheck:
    """Probe ``target`` (a transport at an address and port) and judge what came back."""
    user = settings.user or settings.uri.user or "testbed-check"
    config = ClientConfig(
        aor=SipUri(host=settings.uri.host, user=user),
        registrar=settings.uri.replace(user=None, password=None, headers=()),
        transport="auto", username=user, password=settings.password, expires=REGISTER_EXPIRES,
        timers=settings.timers, ca_file=settings.ca_file, insecure=settings.insecure,
        server_name=settings.server_name, ws_path=settings.ws_path,
        local_host=settings.local_host, udp_large_message="send",
        connect_timeout=settings.connect_timeout)
    # The locator hands the agent this one target: the mode above is never consulted.
    agent = UserAgent(reactor, config, locator=StaticLocator([target], target.reason),
                      name="check")
    agent.start()
    try:
        outcomes = await _walk(agent, target, settings.password is not None)
    finally:
        await agent.stop()
    return _judge(target, outcomes, agent)


async def _walk(agent: UserAgent, target: Target, register: bool) -> list[Outcome]:
    """OPTIONS; REGISTER and its removal; the large OPTIONS over UDP: as far as it goes."""
    options: Outcome = await agent.options()
    outcomes = [options]
    if options.status is None:  # nothing answered: the transport itself failed
        return outcomes
    if register:
        registered: Outcome = await agent.register()
        outcomes.append(registered)
        if registered.ok:
            outcomes.append(await agent.unregister())
    if target.transport is Transport.UDP:
        outcomes.append(await agent.options(size=LARGE_REQUEST))
    return outcomes


def _judge(target: Target, outcomes: list[Outcome], agent: UserAgent) -> TargetCheck:
    # An OPTIONS answered with an error still proves the transport works (many
    # registrars refuse OPTIONS from strangers): it is a step, not a failure.
    judged = [o for o in outcomes if o.ok or o.status is None or o.operation != "options"]
    diagnosis = diagnose(judged, mode=target.transport.spelling)
    record = agent.last_tls_handshake if target.transport.secure else None
    certificate = None
    if record is not None and record.peer_certificate is not None:
        chain = (f"; chain of {record.peer_chain_length} sent"
                 if record.peer_chain_length is not None else "")
        version = f"; {record.protocol_version}" if record.protocol_version else ""
        certificate = f"{record.peer_certificate}{chain}{version}"
        if record.failure is not None:
            certificate += f"; {record.failure.kind}: {record.failure.detail}"
    ok = all(o.ok for o in judged) and bool(judged)
    # The large OPTIONS is sent over UDP on purpose: that is no finding of the deployment.
    diagnosis = replace(diagnosis, findings=tuple(
        f for f in diagnosis.findings if f.id != "large-udp-request"))
    return TargetCheck(target.transport, target_name(target), target.reason, ok, diagnosis,
                       steps=[_step(o) for o in outcomes], certificate=certificate)


def _step(outcome: Outcome) -> str:
    """One outcome as a line; the padded OPTIONS says how large it was."""
    size = outcome.exchanges[-1].size if outcome.exchanges else 0
    if outcome.operation == "options" and size > LARGE_REQUEST - 100:
        return f"large request ({size} bytes over UDP): {outcome.summary}"
    return outcome.summary


__all__ = ["LARGE_REQUEST", "ProbeSettings", "TargetCheck", "probe", "target_name"]
