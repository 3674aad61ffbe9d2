"""Where the client sends its requests: RFC 3263 targets for the configured registrar.

One sans-IO plan (:class:`testbed.dns.Rfc3263Plan`) decides for every mode: ``auto``
(NAPTR → SRV → A/AAAA), or an explicit transport (SRV of that transport, or A/AAAA when
the URI has a port). It is driven either by the DNS servers the client was given (never
the system resolver) or, without any, by the static ``hosts`` map (like /etc/hosts).
The client re-locates on every operation, so DNS changes and TTLs are honoured.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from testbed.dns import (
    DEFAULT_SUPPORTED,
    AddressRecord,
    QueryFailed,
    QueryRecord,
    Resolution,
    Rfc3263Plan,
    Target,
)
from testbed.dns.client import DnsClient
from testbed.reactor import IReactor

from ._config import ClientConfig


@dataclass
class Located:
    """Targets in the order to try them, the resolution steps, or why there are none."""

    targets: list[Target]
    trace: list[str] = field(default_factory=list)
    error: str = ""
    queries: list[QueryRecord] = field(default_factory=list)


class Locator:
    """Turns the configured registrar URI and transport mode into :class:`Target` s."""

    def __init__(self, config: ClientConfig, reactor: IReactor) -> None:
        self.config = config
        self.reactor = reactor
        self.rng = random.Random(config.seed)
        self._dns: DnsClient | None = None


    async def locate(self) -> Located:
        config = self.config
        if config.dns:
            resolution = await self._dns_client().resolve(
                config.registrar, self.config.transport, DEFAULT_SUPPORTED, self.rng)
        else:
            resolution = self._resolve_statically()
        steps = [str(step) for step in resolution.trace]
        error = ""
        if not resolution.targets:
            errors = [str(step) for step in resolution.trace if step.kind == "error"]
            error = errors[-1] if errors else "no target found"
        return Located(list(resolution.targets), steps, error, list(resolution.queries))

    def _resolve_statically(self) -> Resolution:
        """Drive the plan with the hosts map only: there is no DNS server to ask."""
        config = self.config
        plan = Rfc3263Plan(config.registrar, config.transport, DEFAULT_SUPPORTED, self.rng)
        while (query := plan.next_query()) is not None:
            address = self.config.hosts.get(query.name.rstrip(".").lower())
            if query.type in ("A", "AAAA") and address is not None:
                family = "AAAA" if ":" in address else "A"
                records = [AddressRecord(address, query.name)] if family == query.type else []
                plan.answer(query, records)
            else:
                plan.answer(query, QueryFailed(
                    "ERROR", "no DNS server given (--dns) and not in the hosts map"))
        return plan.resolution(())

    def _dns_client(self) -> DnsClient:
        if self._dns is None:
            self._dns = DnsClient(list(self.config.dns), self.reactor,
                                  timeout=self.config.dns_timeout)
        return self._dns

    def close(self) -> None:
        if self._dns is not None:
            self._dns.close()
            self._dns = None


class StaticLocator:
    """A locator that always gives the same targets: for probing one target on
    purpose (``testbed check`` walks every advertised target this way)."""

    def __init__(self, targets: list[Target], why: str = "") -> None:
        self.targets = list(targets)
        self.why = why

    async def locate(self) -> Located:
        trace = [self.why] if self.why else []
        return Located(list(self.targets), trace, "" if self.targets else "no target given")

    def close(self) -> None:
        pass


__all__ = ["Located", "Locator", "StaticLocator"]
