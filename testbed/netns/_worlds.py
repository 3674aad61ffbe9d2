"""Worlds that need ports below 1024: a private namespace for ``run``, advice for ``serve``.

A world listens on the RFC default ports (WSS 443, DNS 53, ...) unless its scenario
names others. An ordinary user may not bind ports below 1024, so ``testbed run`` and the
pytest plugin move the process into a private user and network namespace first
(:func:`isolate_worlds`). ``testbed serve`` cannot: a world in a private namespace is out
of reach of the softphones on the host, so it says what to do instead
(:func:`serve_advice`).
"""

from __future__ import annotations

from collections.abc import Iterable

from testbed.scenario import Scenario, external_systems, world_ports

from ._kernel import NamespaceUnavailable, enter_private_network, low_ports_allowed, userns_remedy

LOW_PORTS_SYSCTL = "sudo sysctl -w net.ipv4.ip_unprivileged_port_start=0"


def privileged_listeners(scenario: Scenario) -> list[str]:
    """What the scenario's world would listen on below port 1024: ``["WSS 443", "DNS 53"]``.

    A registrar's listener takes its transport's default port unless it names one, as
    the world does; a ``dns`` section takes port 53.
    """
    return [f"{what} {port}" for what, port in world_ports(scenario.data) if 0 < port < 1024]


def isolate_worlds(scenarios: Iterable[Scenario]) -> str | None:
    """Give the worlds of ``scenarios`` a network of their own when they need one.

    When a world listens below port 1024 and this process may not bind such a port,
    the process enters a private user and network namespace (unless a scenario talks to
    a real system, which would then be out of reach), for the rest of its life
    (:func:`~testbed.netns.enter_private_network`): the worlds keep the real ports, on a
    loopback no other run shares. Call it before the reactor starts. Returns the line
    to show the user: that the worlds run there, or, when the kernel does not allow
    it, what to do; None when nothing was needed.
    """
    scenarios = list(scenarios)
    needed = list(dict.fromkeys(p for s in scenarios for p in privileged_listeners(s)))
    if not needed or low_ports_allowed():
        return None
    ports = ", ".join(needed)
    real = [system for s in scenarios for system in external_systems(s.data)]
    if real:  # a private network would cut the worlds off from them
        return (f"cannot listen on {ports}: ports below 1024 need root here, and a "
                f"private network namespace would cut the worlds off from the real "
                f"systems on this host ({', '.join(dict.fromkeys(real))}); the worlds "
                f"stay here (a port they cannot bind ends their scenario with one line): "
                f"run as root, or `{LOW_PORTS_SYSCTL}`")
    try:
        enter_private_network()
    except NamespaceUnavailable as exc:
        return (f"cannot listen on {ports}: ports below 1024 need root here, and a private "
                f"network namespace is not allowed ({exc}); run as root, or "
                f"`{LOW_PORTS_SYSCTL}`, or allow user namespaces: `{userns_remedy()}`")
    return (f"ports below 1024 need root here, so the worlds ({ports}) run in a private "
            "user and network namespace: the real ports, on a loopback of their own")


def serve_advice(scenario: Scenario) -> str | None:
    """How an ordinary user reaches the world of ``scenario``; None when nothing stops it.

    ``serve`` keeps its world on the host, where the softphones are: a private network
    namespace would hide it from them.
    """
    needed = privileged_listeners(scenario)
    if not needed or low_ports_allowed():
        return None
    registrars = [p for p in needed if not p.startswith("DNS ")]
    lines = [f"this user may not listen on {', '.join(needed)} (ports below 1024 need root "
             "here). `testbed run` works round that in a private network namespace, but a "
             "world in there is out of reach of the phones on this host, so serve stays "
             "on the host."]
    if registrars:
        lines.append("  Give those listeners ports from 1024 up in the scenario (e.g. "
                     "`listen: [{transport: wss, port: 8443}]`) and point the phones there,")
        lines.append(f"  or run serve as root, or allow low ports: `{LOW_PORTS_SYSCTL}`.")
    if any(port.startswith("DNS ") for port in needed):
        lines.append("  The DNS server answers on the port printed below instead of 53: "
                     "tools take it (dig -p), most phones do not; for 53, run serve as root "
                     f"or `{LOW_PORTS_SYSCTL}`.")
    return "\n".join(lines)
