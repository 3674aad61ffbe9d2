"""Report artefacts of real runs: a registrar, our DNS server and a client on loopback,
all feeding one capture; the pcap read back by tshark (TLS and WSS decrypted with the
key log embedded in the file, and with keys.log beside it)."""

import os
import shutil
import subprocess

import pytest
import pytest_twisted
from twisted.internet import reactor

from servers.dns import DnsServer
from servers.loopback import find_free_loopback
from servers.registrar import Registrar, RegistrarConfig
from testbed.report import write_artefacts, write_pcap
from testbed.sip import Timers
from testbed.transport import Capture, server_tls_options

DOMAIN = "sip.example.com"
FAST = Timers(t1=0.02, t2=0.16, t4=0.2)
PORTS = {"UDP": 5060, "TCP": 5060, "TLS": 5061, "WSS": 443}  # where Wireshark expects SIP
INSTALL = ('echo "wireshark-common wireshark-common/install-setuid boolean false" | '
           "debconf-set-selections && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
           "tshark")


CHECKSUMS = ["ip.check_checksum:TRUE", "tcp.check_checksum:TRUE", "udp.check_checksum:TRUE"]
WARNING = 0x00600000  # Wireshark's PI_WARN; PI_ERROR is above it


def tshark_fields(pcap, *fields, display="", options=()):
    """Rows of ``fields`` for the packets matching ``display``, as tshark dissects them.

    A missing tshark fails in CI (``.ci/run`` installs it) and skips elsewhere."""
    binary = shutil.which("tshark")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail(f"tshark is missing; CI must install it: {INSTALL}")
        pytest.skip(f"tshark is not installed: {INSTALL}")
    command = [binary, "-n", "-r", str(pcap), "-T", "fields", "-E", "separator=|"]
    for option in options:
        command += ["-o", option]
    if display:
        command += ["-Y", display]
    for field in fields:
        command += ["-e", field]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return [line.split("|") for line in done.stdout.splitlines()]


@pytest.fixture
def dns_servers():
    started = []
    yield started
    for server in started:
        pytest_twisted.blockon(server.stop())


async def registered_world(tmp_path, servers, agents, pki, dns_servers, transport):
    """Registrar, DNS server and client sharing one capture; the client registers."""
    capture = Capture(reactor.seconds)
    host = find_free_loopback([(transport, PORTS[transport])])
    registrar = Registrar(reactor, RegistrarConfig(users={"alice": "secret"}), timers=FAST)
    servers.started.append(registrar)  # the fixture stops it
    registrar.stack.capture = capture
    registrar.listen(transport, host, PORTS[transport],
                     tls_options=server_tls_options(pki[1]["valid"]))
    dns = DnsServer([{"origin": DOMAIN, "records": [
        {"name": DOMAIN, "type": "A", "address": host}]}], reactor, capture=capture)
    dns_servers.append(dns)
    dns_host = find_free_loopback([("UDP", 53), ("TCP", 53)])
    listening = dns.listen(dns_host, 53)
    keys = tmp_path / "client-keys.log"
    agent = agents.agent(f"sip:{DOMAIN}:{PORTS[transport]}", transport.lower(),
                         dns=[(listening.host, listening.port)], ca_pem=pki[0].cert_pem,
                         keylog=str(keys))
    agent.stack.capture = capture  # after start(): reaches its UDP socket too
    outcome = await agent.register()
    assert outcome.ok, outcome.summary
    keylog_text = keys.read_text() if keys.exists() else ""
    events = agent.trace.events + registrar.trace.events
    paths = write_artefacts(tmp_path / "report", f"register-{transport.lower()}", events,
                            dns.log, capture, keylog_text)
    return capture, dns, paths


@pytest.mark.parametrize("transport", ["UDP", "TCP", "TLS", "WSS"])
@pytest_twisted.ensureDeferred
async def test_artefacts_of_a_registration(tmp_path, servers, agents, pki, dns_servers,
                                           transport):
    capture, dns, paths = await registered_world(tmp_path, servers, agents, pki, dns_servers,
                                                 transport)

    assert sorted(p.name for p in paths.values()) == [
        "capture.pcapng", "keys.log", "ladder.txt", "messages.log"]
    assert all(p.parent == tmp_path / "report" / f"register-{transport.lower()}"
               for p in paths.values())
    ladder = paths["ladder"].read_text()
    assert ladder.count("401 Unauthorized") == 1 and ladder.count("200 OK") == 1
    assert f"A {DOMAIN}? → 1 answer" in ladder
    assert max(len(line) for line in ladder.splitlines()) <= 100
    messages = paths["messages"].read_text()
    assert messages.count("SIP/2.0 401 Unauthorized") == 1
    keys = paths["keys"].read_text()
    assert (keys != "") == (transport in ("TLS", "WSS"))
    stream = b"".join(s.data for s in capture if s.transport == "TCP")
    if transport in ("TLS", "WSS"):
        assert b"REGISTER" not in stream  # the capture holds what crossed the socket
    elif transport == "TCP":
        assert stream.count(b"REGISTER sip:") == 2  # both ends saw it, recorded once

    # one tshark pass over every frame: SIP, DNS, checksums (0 = bad), expert warnings
    frames = tshark_fields(paths["pcap"], "frame.protocols", "sip.Method", "sip.Status-Code",
                           "dns.flags.response", "ip.checksum.status", "tcp.checksum.status",
                           "udp.checksum.status", "_ws.expert.severity", options=CHECKSUMS)
    sip = [f for f in frames if ":sip" in f[0]]
    assert [f[1] or f[2] for f in sip] == ["REGISTER", "401", "REGISTER", "200"]
    if transport in ("TLS", "WSS"):
        assert all(":tls:" in f[0] for f in sip)  # decrypted with the embedded key log
    dns_frames = [f[3] for f in frames if ":dns" in f[0]]
    # one packet each way per query: both ends were captured, each packet kept once
    assert dns_frames.count("0") == dns_frames.count("1") == len(dns.log) > 0
    assert all(status == "1" for f in frames for status in f[4:7] if status)
    severities = [int(v, 0) for f in frames for v in f[7].split(",") if v]
    assert all(v < WARNING for v in severities), frames


@pytest_twisted.ensureDeferred
async def test_keys_log_beside_the_pcap_decrypts_it_too(tmp_path, servers, agents, pki,
                                                        dns_servers):
    capture, _, paths = await registered_world(tmp_path, servers, agents, pki, dns_servers,
                                               "TLS")
    bare = write_pcap(tmp_path / "bare" / "capture.pcapng", capture)  # no secrets block
    assert tshark_fields(bare, "sip.Method", display="sip") == []
    sip = tshark_fields(bare, "sip.Method", display="sip",
                        options=[f"tls.keylog_file:{paths['keys']}"])
    assert [method for (method,) in sip if method] == ["REGISTER", "REGISTER"]


@pytest_twisted.ensureDeferred
async def test_a_refused_connection_shows_as_syn_and_reset(tmp_path, agents):
    capture = Capture(reactor.seconds)
    host = find_free_loopback([("TCP", 5060)])
    agent = agents.agent(f"sip:{host}:5060", "tcp", password=None)
    agent.stack.capture = capture
    outcome = await agent.register()
    assert outcome.error == "refused"
    paths = write_artefacts(tmp_path, "refused", agent.trace.events, (), capture, None)
    assert "✗ connection refused by" in paths["ladder"].read_text()
    flags = tshark_fields(paths["pcap"], "tcp.flags.str", "ip.dst", display="tcp")
    assert [(f.replace("\u00b7", "").strip(), dst) for f, dst in flags] == [
        ("S", host), ("AR", "127.0.0.1")]
