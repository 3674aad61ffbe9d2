"""Fault fixtures: a registrar behind a fault proxy on loopback, and the real client.

Timers are scaled further than the client suite's (T1 = 10 ms: Timer F = 0.64 s) so
that the timeouts the faults cause cost little wall time; the retransmission pattern
(0, T1, 3T1, 7T1, ... capped at T2) is the RFC's all the same.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest
import pytest_twisted
from twisted.internet import reactor

from servers.faults import Fault, build_fault
from servers.loopback import find_free_loopback
from servers.registrar import Registrar, RegistrarConfig
from testbed.sip import Timers

QUICK = Timers(t1=0.01, t2=0.08, t4=0.1)  # Timer F = Timer B = 0.64 s
BRISK = Timers(t1=0.005, t2=0.04, t4=0.05)  # 0.32 s, where no exact count is asserted
AOR = "sip:alice@example.com"


@dataclass
class Scene:
    """A registrar, the fault in front of it, and a client pointed at the fault."""

    registrar: Registrar
    bound: dict
    fault: Fault
    agent: object = None
    host: str = ""


@dataclass
class Pool:
    """Starts registrars and faults for a test and stops them all after it."""

    registrars: list = field(default_factory=list)
    faults: list = field(default_factory=list)
    used: set = field(default_factory=set)

    def registrar(self, transports: dict, timers: Timers = QUICK, **config: object):
        registrar = Registrar(reactor, RegistrarConfig(**config), timers=timers)
        self.registrars.append(registrar)
        host = find_free_loopback(list(transports.items()), exclude=self.used)
        self.used.add(host)
        bound = {t: registrar.listen(t, host, p) for t, p in transports.items()}
        return registrar, bound

    def fault(self, spec, upstream, *, seed: int = 1, **options: object) -> Fault:
        host = find_free_loopback([], exclude=self.used)
        self.used.add(host)
        fault = build_fault(spec, reactor=reactor, upstream=upstream, listen_host=host,
                            rng=random.Random(seed), **options)
        self.faults.append(fault)
        return fault

    def scene(self, agents, spec, mode: str = "udp", *, transports=("UDP",), seed: int = 1,
              registrar_options: dict | None = None, **agent_options: object) -> Scene:
        """A registrar on ``transports``, ``spec`` in front of it, a client in ``mode``."""
        registrar, bound = self.registrar({t: 0 for t in transports},
                                          **(registrar_options or {}))
        upstream = [(t, *bound[t]) for t in transports]
        fault = self.fault(spec, upstream, seed=seed)
        host, port = fault.address
        agent_options.setdefault("timers", QUICK)
        agent_options.setdefault("password", None)
        agent = agents.agent(f"sip:{host}:{port}", mode, **agent_options)
        return Scene(registrar, bound, fault, agent, host)


@pytest.fixture
def pool():
    made = Pool()
    yield made
    for fault in made.faults:
        pytest_twisted.blockon(fault.stop())
    for registrar in made.registrars:
        pytest_twisted.blockon(registrar.stop())


def logged(fault: Fault, timeout: float = 2.0, **match: object):
    """A Deferred of the first record of ``fault`` whose fields equal ``match``: the
    proxy may still be handling the datagram the client sent last when the client's
    outcome is already known."""
    def predicate(record) -> bool:
        return all(getattr(record, key) == value for key, value in match.items())

    return fault.wait_for(predicate).addTimeout(timeout, reactor)
