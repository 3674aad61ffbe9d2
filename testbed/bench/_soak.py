"""The soak: a million requests against a served world, its memory and rate over time.

``testbed serve`` runs the world of :mod:`._served` in its own process; our load client
(1,000 endpoints on one UDP socket, 100 operations in flight) registers with digest
again and again: each registration is two requests (REGISTER, 401, REGISTER with
credentials, 200), so a million requests are 500,000 registrations. At each checkpoint
the served process's resident set size and the request rate since the previous
checkpoint are printed. A server with bounded memory is flat from the first
checkpoints on; one that keeps what it sees grows linearly.

The world's T1 sets how long a completed transaction stays to absorb retransmissions
(Timer J = 64·T1 on UDP, RFC 3261 §17.2.2): at R requests per second the registrar
holds 64·T1·R of them (about 5 KiB each), bounded by the RFC but growing with T1 and
the rate, and reached only after 64·T1 seconds. The soak's world takes the catalogue's
T1 of 20 ms by default, so that what it measures is what the world *keeps*; with the
RFC's 500 ms (``--soak-t1 0.5``) the same figures sit on that plateau once it is full.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet import task, threads

from testbed.load import LoadConfig, LoadRunner
from testbed.reactor import IReactor
from testbed.sip import SipUri, fmt_hostport, parse_uri

from ._served import ACCOUNTS, DOMAIN, PASSWORD, ServedWorld

CHECKPOINTS = (10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 750_000, 1_000_000)
REQUESTS_PER_REGISTRATION = 2


def checkpoints(total: int) -> list[int]:
    """Where to sample for a soak of ``total`` requests (always ending at ``total``)."""
    points = [c for c in CHECKPOINTS if c < total]
    return [*points, total]


async def soak(reactor: IReactor, folder: Path, *, requests: int, t1: float,
               say: Callable[[str], None], rate: float | None = None) -> dict[str, Any]:
    """Run the soak (at ``rate`` requests/s, else as fast as 100 registrations in flight
    go); the figures, with one sample per checkpoint."""
    registrations = max(1, requests // REQUESTS_PER_REGISTRATION)
    limit = max(600.0, requests / 100)  # at least 100 requests/s, or it is broken anyway
    world = ServedWorld(folder, t1=t1, seconds=limit + 120)
    await threads.deferToThread(world.start)
    try:
        return await _drive(reactor, world, requests, registrations, limit, t1, say, rate)
    finally:
        world.stop()


async def _drive(reactor: IReactor, world: ServedWorld, requests: int, registrations: int,
                 limit: float, t1: float, say: Callable[[str], None],
                 rate: float | None) -> dict[str, Any]:
    host, port = world.addresses["UDP"]
    uri = parse_uri(f"sip:{fmt_hostport((host, port))}")
    assert isinstance(uri, SipUri)
    config = LoadConfig(registrar=uri, transport="udp", endpoints=ACCOUNTS, window=100,
                        count=registrations, password=PASSWORD, domain=DOMAIN,
                        time_limit=limit, drain=10.0,
                        rate=rate / REQUESTS_PER_REGISTRATION if rate else None)
    runner = LoadRunner(reactor, config)
    pending = checkpoints(requests)
    started = time.monotonic()
    before = world.rss_kib()
    samples: list[dict[str, Any]] = []
    say(f"  soak: {requests:,} requests (REGISTER with digest, {ACCOUNTS:,} endpoints) "
        f"against testbed serve, T1 {t1 * 1000:g} ms"
        + (f", {rate:,.0f} requests/s" if rate else "")
        + f"; RSS at start {before / 1024:.1f} MiB")

    def sample(final: bool = False) -> None:
        sent = runner.trace.counts.get("sent", 0)
        if not pending or (sent < pending[0] and not final):
            return
        while pending and (sent >= pending[0] or final):
            pending.pop(0)
        now = time.monotonic() - started
        last = samples[-1] if samples else {"requests": 0, "seconds": 0.0}
        interval = now - last["seconds"]
        rate = (sent - last["requests"]) / interval if interval > 0 else 0.0
        rss = world.rss_kib() if world.alive() else 0
        samples.append({"requests": sent, "seconds": round(now, 1), "rate": round(rate),
                        "rss_kib": rss})
        say(f"  soak {sent:>11,} requests {now:>7.0f} s  {rate:>8,.0f} requests/s  "
            f"RSS {rss / 1024:>7.1f} MiB")

    watch = task.LoopingCall(sample)
    watch.clock = reactor
    watch.start(0.25, now=False)
    try:
        result = await runner.run()
    finally:
        watch.stop()
        await runner.stop()
    sample(final=True)
    elapsed = time.monotonic() - started
    sent = samples[-1]["requests"]
    figures: dict[str, Any] = {
        "t1_ms": t1 * 1000, "rate_asked": rate, "requests": sent, "registrations": result.succeeded,
        "failed": result.failed, "errors": dict(result.errors), "seconds": round(elapsed, 1),
        "rate": round(sent / elapsed) if elapsed > 0 else 0, "rss_start_kib": before,
        "samples": samples, "alive": world.alive(), "tracebacks": world.tracebacks()}
    first = next((s for s in samples if s["requests"] >= 10_000), None)
    if first is not None and first is not samples[-1]:
        figures["rss_growth_from_10k_kib"] = samples[-1]["rss_kib"] - first["rss_kib"]
    return figures
