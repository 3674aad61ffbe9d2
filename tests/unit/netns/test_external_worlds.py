"""Worlds with real systems in them stay on the host's network, and their relays' ports
count as listeners."""

import pytest

from testbed.netns import _worlds, isolate_worlds, privileged_listeners
from testbed.scenario import parse

WORLD = """\
name: ports
troubleshooting: healthy
registrars:
  - name: theirs
    domain: sip.example.com
    external: {{udp: "127.0.0.9:5060", wss: "wss://127.0.0.9:443/ws"}}
{faults}
client: {{transport: wss, registrar: "sip:sip.example.com"}}
steps:
  - register: {{}}
{dns}"""


def scenario(faults: str = "", dns: str = ""):
    return parse(WORLD.format(faults=faults, dns=dns), "ports.yaml")


@pytest.mark.parametrize(("faults", "dns", "expected"), [
    ("", "", []),  # nothing of the world listens: the server is theirs
    ("faults: [{kind: latency, delay: 1ms}]", "", ["WSS 443"]),  # relays on its ports
    ("faults: [{kind: latency, delay: 1ms, transport: udp}]", "", ["WSS 443"]),
    ("", 'dns: {server: "127.0.0.1:5353"}', ["DNS 53"]),  # our relaying DNS server
])
def test_privileged_listeners_of_worlds_with_real_systems(faults, dns, expected):
    assert privileged_listeners(scenario(faults, dns)) == expected


def test_a_run_with_real_systems_is_never_moved_into_a_private_network(monkeypatch):
    entered = []
    monkeypatch.setattr(_worlds, "low_ports_allowed", lambda: False)
    monkeypatch.setattr(_worlds, "enter_private_network", lambda: entered.append(True))

    note = isolate_worlds([scenario("faults: [{kind: latency, delay: 1ms}]",
                                    'dns: {server: "127.0.0.1:5353"}')])

    assert entered == []
    assert note == (
        "cannot listen on WSS 443, DNS 53: ports below 1024 need root here, and a private "
        "network namespace would cut the worlds off from the real systems on this host "
        "(registrar theirs at 127.0.0.9, DNS server 127.0.0.1:5353); the worlds stay here "
        "(a port they cannot bind ends their scenario with one line): run as root, or "
        "`sudo sysctl -w net.ipv4.ip_unprivileged_port_start=0`")
