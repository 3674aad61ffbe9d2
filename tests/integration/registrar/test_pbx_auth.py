"""Our user agent against the mock PBX on loopback: INVITE challenged as a proxy does
(407, RFC 3261 §22.3), REGISTER as a registrar does (401, §10.3), and the configured
answer to an unknown user, with what the diagnosis makes of it."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor

from testbed.client import ClientConfig, UserAgent
from testbed.diagnosis import diagnose
from testbed.sip import SipUri, Timers, parse_message, parse_uri

TRANSPORTS = [("udp", "UDP"), ("tcp", "TCP")]


def requests_received(registrar, method: str):
    """The requests ``method`` the registrar received, parsed from its trace."""
    events = [e for e in registrar.trace.of_kind("received") if e.summary.startswith(method)]
    return [parse_message(e.data) for e in events]


@pytest.mark.parametrize(("mode", "transport"), TRANSPORTS)
@pytest_twisted.ensureDeferred
async def test_register_401_then_call_407_then_200(servers, agents, mode, transport):
    registrar, bound = servers.registrar({transport: 0}, users={"alice": "secret"})
    host, port = bound[transport]
    agent = agents.agent(f"sip:{host}:{port}", mode)

    registered = await agent.register()
    assert registered.ok, registered.summary
    assert [e.status for e in registered.exchanges] == [401, 200]  # a registrar is a UAS

    call = await agent.call(parse_uri(f"sip:bob@{host}"))
    assert call.ok, call.summary
    assert [e.status for e in call.exchanges] == [407, 200]  # challenged as by a proxy
    first, second = requests_received(registrar, "INVITE")
    assert first.headers.get("Proxy-Authorization") is None
    assert second.headers.get("Proxy-Authorization") is not None
    assert second.headers.get("Authorization") is None
    (register, again) = requests_received(registrar, "REGISTER")
    assert again.headers.get("Authorization") is not None
    assert again.headers.get("Proxy-Authorization") is None
    assert [(r.method, r.status) for r in registrar.received if r.method == "INVITE"] == [
        ("INVITE", 407), ("INVITE", 200)]
    assert diagnose([registered, call], mode=mode).row == "healthy"

    bye = await agent.hangup(call.call.dialog)
    assert bye.ok, bye.summary


@pytest.mark.parametrize(("mode", "transport"), TRANSPORTS)
@pytest_twisted.ensureDeferred
async def test_invite_challenge_401_when_configured(servers, agents, mode, transport):
    registrar, bound = servers.registrar({transport: 0}, users={"alice": "secret"},
                                         invite_challenge=401)
    host, port = bound[transport]
    agent = agents.agent(f"sip:{host}:{port}", mode)

    call = await agent.call(parse_uri(f"sip:bob@{host}"))

    assert call.ok, call.summary
    assert [e.status for e in call.exchanges] == [401, 200]
    _, second = requests_received(registrar, "INVITE")
    assert second.headers.get("Authorization") is not None
    assert second.headers.get("Proxy-Authorization") is None


@pytest.mark.parametrize(("mode", "transport"), TRANSPORTS)
@pytest_twisted.ensureDeferred
async def test_wrong_password_on_invite_is_reported_as_auth_failure(servers, agents, mode,
                                                                   transport):
    registrar, bound = servers.registrar({transport: 0}, users={"alice": "secret"})
    host, port = bound[transport]
    agent = agents.agent(f"sip:{host}:{port}", mode, password="wrong")

    call = await agent.call(parse_uri(f"sip:bob@{host}"))

    assert not call.ok and call.error == "auth"
    assert [e.status for e in call.exchanges] == [407, 407]
    assert diagnose([call], mode=mode).row == "auth-failure"


# -- unknown users ------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "transport"), TRANSPORTS)
@pytest.mark.parametrize(("unknown_user", "statuses", "error", "row"), [
    (401, [401, 401], "auth", "auth-failure"),
    (403, [401, 403], "rejected", "rejected"),
    (404, [401, 404], "rejected", "rejected"),
])
@pytest_twisted.ensureDeferred
async def test_unknown_user_registering(servers, agents, mode, transport, unknown_user,
                                        statuses, error, row):
    registrar, bound = servers.registrar({transport: 0}, users={"alice": "secret"},
                                         unknown_user=unknown_user)
    host, port = bound[transport]
    agent = agents.agent(f"sip:{host}:{port}", mode, user="mallory", password="guess")

    outcome = await agent.register()

    assert not outcome.ok and outcome.error == error
    # Challenged first (nothing revealed before credentials), then the configured answer.
    assert [e.status for e in outcome.exchanges] == statuses
    assert outcome.status == unknown_user
    assert registrar.received[-1].note == ("challenged (no user 'mallory')"
                                           if unknown_user == 401 else "unknown user 'mallory'")
    assert diagnose([outcome], mode=mode).row == row


@pytest.mark.parametrize("unknown_user", [403, 404])
@pytest_twisted.ensureDeferred
async def test_unknown_user_calling_gets_the_answer_after_the_407(servers, agents,
                                                                  unknown_user):
    registrar, bound = servers.registrar({"UDP": 0}, users={"alice": "secret"},
                                         unknown_user=unknown_user)
    host, port = bound["UDP"]
    agent = agents.agent(f"sip:{host}:{port}", "udp", user="mallory", password="guess")

    call = await agent.call(parse_uri(f"sip:bob@{host}"))

    assert not call.ok and call.error == "rejected"
    assert [e.status for e in call.exchanges] == [407, unknown_user]


@pytest.mark.parametrize("unknown_user", [403, 404])
@pytest_twisted.ensureDeferred
async def test_a_known_user_still_registers(servers, agents, unknown_user):
    registrar, bound = servers.registrar({"TCP": 0}, users={"alice": "secret"},
                                         unknown_user=unknown_user)
    host, port = bound["TCP"]
    agent = agents.agent(f"sip:{host}:{port}", "tcp")
    outcome = await agent.register()
    assert outcome.ok, outcome.summary
    assert [e.status for e in outcome.exchanges] == [401, 200]


# -- authorisation (RFC 3261 §10.3 step 4) ---------------------------------------------------


@pytest.mark.parametrize(("mode", "transport"), TRANSPORTS)
@pytest.mark.parametrize(("policy", "status"), [("own", 403), ("accounts", 200), ("any", 200)])
@pytest_twisted.ensureDeferred
async def test_alice_registering_bobs_address_of_record(servers, agents, mode, transport,
                                                        policy, status):
    registrar, bound = servers.registrar({transport: 0}, registrar_policy=policy,
                                         users={"alice": "secret", "bob": "hunter2"})
    host, port = bound[transport]
    bob = agents.agent(f"sip:{host}:{port}", mode, user="bob", password="hunter2")
    assert (await bob.register()).ok
    (bobs,) = registrar.bindings("sip:bob@example.com")
    # alice's credentials, bob's address-of-record, alice's contact.
    alice = agents.agent(f"sip:{host}:{port}", mode, user="bob", username="alice")

    outcome = await alice.register()

    assert [e.status for e in outcome.exchanges] == [401, status]
    bindings = registrar.bindings("sip:bob@example.com")
    if status == 403:
        assert not outcome.ok and outcome.error == "rejected"
        assert bindings == [bobs]  # bob's binding is untouched
        assert diagnose([outcome], mode=mode).row == "rejected"
    else:
        assert outcome.ok and len(bindings) == 2


def agent_of_domain(agents, registrar: str, domain: str) -> UserAgent:
    """alice's user agent with her address-of-record in ``domain``."""
    agent = UserAgent(reactor, ClientConfig(
        aor=SipUri(host=domain, user="alice"), registrar=parse_uri(registrar), transport="udp",
        password="secret", timers=Timers(t1=0.02, t2=0.16, t4=0.2)))
    agent.start()
    agents.started.append(agent)  # stopped by the fixture
    return agent


@pytest_twisted.ensureDeferred
async def test_only_the_addresses_of_the_domain_and_of_the_registrar(servers, agents):
    registrar, bound = servers.registrar({"UDP": 0}, users={"alice": "secret"},
                                         domains=("example.com",))
    host, port = bound["UDP"]
    uri = f"sip:{host}:{port}"
    assert (await agent_of_domain(agents, uri, "example.com").register()).ok
    # A softphone whose domain is the registrar's address is served too (Kamailio: myself).
    assert (await agent_of_domain(agents, uri, host).register()).ok
    refused = await agent_of_domain(agents, uri, "elsewhere.example.com").register()
    assert refused.status == 404
    assert registrar.bindings("sip:alice@elsewhere.example.com") == []
