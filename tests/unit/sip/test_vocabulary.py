"""The one vocabulary: transports, default ports, host:port, durations, scaled timers."""

import pytest

from testbed.sip import (
    DEFAULT_PORTS,
    DurationError,
    Timers,
    Transport,
    fmt_hostport,
    parse_duration,
)


@pytest.mark.parametrize("text", ["udp", "UDP", "Udp"])
def test_transport_parse_is_case_insensitive(text):
    assert Transport.parse(text) is Transport.UDP


def test_transport_parse_names_the_choices():
    with pytest.raises(ValueError, match="'udpp'; expected one of udp, tcp, tls, ws, wss"):
        Transport.parse("udpp")


def test_transport_equals_its_via_spelling():
    assert Transport.TLS == "TLS" and {"TLS": 1}[Transport.TLS] == 1
    assert f"{Transport.WSS}" == "WSS" and Transport.WSS.spelling == "wss"


@pytest.mark.parametrize("transport, port, reliable, secure, carrier, param", [
    (Transport.UDP, 5060, False, False, Transport.UDP, None),
    (Transport.TCP, 5060, True, False, Transport.TCP, "tcp"),
    (Transport.TLS, 5061, True, True, Transport.TCP, "tls"),
    (Transport.WS, 80, True, False, Transport.TCP, "ws"),
    (Transport.WSS, 443, True, True, Transport.TCP, "ws"),  # RFC 7118 §5.2
])
def test_transport_properties(transport, port, reliable, secure, carrier, param):
    assert DEFAULT_PORTS[transport] == transport.default_port == port
    assert (transport.reliable, transport.secure) == (reliable, secure)
    assert transport.carrier is carrier and transport.contact_param == param


@pytest.mark.parametrize("hostport, text", [
    (("127.0.0.1", 5060), "127.0.0.1:5060"), (("::1", 5061), "[::1]:5061"), (None, "-")])
def test_fmt_hostport(hostport, text):
    assert fmt_hostport(hostport) == text


@pytest.mark.parametrize("value, seconds", [
    (2, 2.0), (0.5, 0.5), ("2", 2.0), ("1.5s", 1.5), ("300ms", 0.3), ("2min", 120.0),
    ("1h", 3600.0), (" 20ms ", 0.02), ("0", 0.0), (".5s", 0.5)])
def test_parse_duration(value, seconds):
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value, words", [
    ("abc", "expected a duration such as 500ms, 2s, 5min or 1.5 (seconds), got 'abc'"),
    ("5 parsecs", "got '5 parsecs'"), (True, "got True"), ([1], "got [1]"),
    (-1, "expected a duration of 0 or more seconds, got -1"), (float("inf"), "0 or more")])
def test_parse_duration_errors_are_sentences(value, words):
    with pytest.raises(DurationError, match=words.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        parse_duration(value)


def test_parse_duration_may_refuse_zero():
    with pytest.raises(DurationError, match="more than 0 seconds"):
        parse_duration("0ms", allow_zero=False)


def test_timers_scaled_keeps_rfc_ratios():
    assert Timers.scaled(0.5) == Timers()
    assert Timers.scaled(0.05) == Timers(t1=0.05, t2=0.4, t4=0.5)
    assert Timers.scaled(0.1, t2=0.05) == Timers(t1=0.1, t2=0.1, t4=1.0)  # T2 >= T1
    assert Timers.scaled(0.1, t4=3).t4 == 3
