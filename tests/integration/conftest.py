"""Integration fixtures: real sockets on loopback, the real reactor (pytest-twisted).

``servers`` builds mock registrars on a free 127.0.0.N address and stops them after
the test; ``agents`` builds user agents and stops them too. Nothing is mocked.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor

from servers.loopback import find_free_loopback
from servers.registrar import Registrar, RegistrarConfig
from testbed.client import ClientConfig, UserAgent
from testbed.sip import SipUri, Timers

FAST = Timers(t1=0.02, t2=0.16, t4=0.2)  # Timer F = 1.28 s


class Servers:
    def __init__(self) -> None:
        self.started: list[Registrar] = []

    def registrar(self, transports: dict[str, int], *, address: str | None = None,
                  tls_options: object = None, **config: object) -> tuple[Registrar, dict]:
        """A registrar listening on ``transports`` ({"UDP": 5060, "TLS": 0, ...}).

        Returns it and {transport: (host, port)} of what it bound.
        """
        registrar = Registrar(reactor, RegistrarConfig(**config), timers=FAST)
        self.started.append(registrar)
        host = address or find_free_loopback(list(transports.items()))
        bound = {t: registrar.listen(t, host, p, tls_options=tls_options)
                 for t, p in transports.items()}
        return registrar, bound


class Agents:
    def __init__(self) -> None:
        self.started: list[UserAgent] = []

    def agent(self, registrar: str, transport: str, *, user: str = "alice",
              password: str | None = "secret", **config: object) -> UserAgent:
        from testbed.sip import parse_uri

        config.setdefault("timers", FAST)
        agent = UserAgent(reactor, ClientConfig(
            aor=SipUri(host="example.com", user=user), registrar=parse_uri(registrar),
            transport=transport, password=password, **config))
        agent.start()
        self.started.append(agent)
        return agent


DOMAIN = "sip.example.com"


@pytest.fixture(scope="session")
def pki():
    """A CA the clients trust, and server certificates of every kind for ``DOMAIN``."""
    from servers.certs import CERT_KINDS, CertificateAuthority, issue_server_certificate

    ca = CertificateAuthority()
    untrusted = CertificateAuthority("SIP testbed untrusted CA")
    certificates = {kind: issue_server_certificate(kind, [DOMAIN], ca, untrusted)
                    for kind in CERT_KINDS}
    return ca, certificates


@pytest.fixture
def tls_server(pki):
    """``tls_server(kind)`` → server TLS options presenting a certificate of that kind."""
    from testbed.transport import server_tls_options

    return lambda kind="valid": server_tls_options(pki[1][kind])


@pytest.fixture
def servers():
    pool = Servers()
    yield pool
    for registrar in pool.started:
        pytest_twisted.blockon(registrar.stop())


@pytest.fixture
def agents():
    pool = Agents()
    yield pool
    for agent in pool.started:
        pytest_twisted.blockon(agent.stop())
