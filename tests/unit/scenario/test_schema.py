"""The schema: every field described, per-kind fields, errors in words with "did you mean"."""

import json
import re
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from servers.dns import DnsConfigError, Zone
from servers.faults import FAULT_KINDS, FAULT_SCHEMA
from testbed.scenario import DURATION_PATTERN, SCHEMA, check
from testbed.scenario._schema import RECORD_FIELDS
from testbed.sip import DurationError, parse_duration

ROOT = Path(__file__).resolve().parents[3]

BASE = """\
name: t
troubleshooting: healthy
registrars:
  - name: pbx
    listen: [{transport: udp}, {transport: tcp}]
client:
  transport: udp
  registrar: sip:example.com
steps: [register]
"""


def errors_of(text):
    errors, _ = check(text, "f.yaml")
    return [str(e) for e in errors]


def properties(schema, path=()):
    """(path, field schema) of every named field anywhere in the schema."""
    for key, sub in schema.get("properties", {}).items():
        yield (*path, key), sub
        yield from properties(sub, (*path, key))
    if isinstance(schema.get("items"), dict):
        yield from properties(schema["items"], (*path, "[]"))
    for combinator in ("oneOf", "anyOf", "allOf"):
        for sub in schema.get(combinator, ()):
            yield from properties(sub, path)
    if "then" in schema:
        yield from properties(schema["then"], path)


def test_the_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_every_field_has_a_description():
    undocumented = sorted({".".join(path) for path, sub in properties(SCHEMA)
                           if not sub.get("description") and path[-1] not in ("min", "max")})
    assert undocumented == []


def test_the_published_schema_is_current():
    published = json.loads((ROOT / "scenarios" / "schema.json").read_text(encoding="utf-8"))
    assert published == json.loads(json.dumps(SCHEMA)), "run `make schema`"


@pytest.mark.parametrize("kind", [k for k in FAULT_KINDS if k != "relay"])
def test_each_fault_kind_has_its_own_fields_in_the_schema(kind):
    (then,) = [rule["then"] for rule in SCHEMA["properties"]["faults"]["items"]["allOf"]
               if rule["if"]["properties"]["kind"]["const"] == kind]
    own = set(FAULT_SCHEMA[kind]["properties"]) - {"transports"}
    assert set(then["properties"]) == own | {"registrar", "transport"}
    assert then["additionalProperties"] is False
    assert set(then["required"]) == set(FAULT_SCHEMA[kind]["required"])


DURATIONS = ["1", "1.5", "0.25", ".5", "1.", "50ms", "2s", "2min", "1h", " 3 s ", "1.5 ms",
             "", "s", "ms", "2 seconds", "1e3", "-1", "1,5", "2m", "1.2.3", "5 min", "0"]


def schema_accepts(text):
    return re.search(DURATION_PATTERN, text) is not None


def parses(text):
    try:
        parse_duration(text)
    except DurationError:
        return False
    return True


@pytest.mark.parametrize("text", DURATIONS)
def test_the_duration_pattern_accepts_what_parse_duration_reads(text):
    assert schema_accepts(text) == parses(text)


@given(st.text(alphabet="0123456789.msinh -", max_size=8))
def test_the_duration_pattern_and_parse_duration_agree(text):
    assert schema_accepts(text) == parses(text)


@pytest.mark.parametrize("change, message", [
    (("transport: udp\n  registrar", "transport: udpp\n  registrar"),
     "f.yaml:7: client.transport: 'udpp' is not one of udp, tcp, tls, wss, auto; "
     "did you mean udp?"),
    (("transport: udp\n  registrar", "transport: UDP\n  registrar"),
     "f.yaml:7: client.transport: 'UDP' is not one of udp, tcp, tls, wss, auto; "
     "did you mean udp?"),
    (("  transport: udp\n", "  transprot: udp\n"),
     "f.yaml:7: client.transprot: unknown field; did you mean transport?"),
    (("  transport: udp\n", "  transport: udp\n  colour: red\n"),
     "f.yaml:8: client.colour: unknown field; expected one of transport, registrar, user, "
     "password, aor, trust, server_name, ws_path, expires, keepalive, udp_large_message, "
     "path_mtu, answer, kind, command"),
    (("steps: [register]", "steps: [register, {wait: 2 seconds}]"),
     "f.yaml:9: steps[1].wait: expected a duration such as 500ms, 2s, 5min or 1.5 "
     "(seconds), got '2 seconds'"),
    (("steps: [register]", "steps: [register, {wait: 0}]"),
     "f.yaml:9: steps[1].wait: expected a duration of more than 0 seconds, got 0"),
    (("steps: [register]", "steps: [{regster: {}}]"),
     "f.yaml:9: steps[0].regster: unknown step; did you mean register?"),
    (("steps: [register]", "steps: [{register: {}, wait: 1}]"),
     "f.yaml:9: steps[0]: a step is a mapping with one key, e.g. {call: {sdp_size: 1600}}"),
    (("steps: [register]", "steps: [register]\nexpect: {diagnosis: {findings: [failovr]}}"),
     "f.yaml:10: expect.diagnosis.findings[0]: 'failovr' is not one of the 21 known values; "
     "did you mean failover?"),
    (("steps: [register]", "steps: [register]\nexpect: {diagnosis: {row: helthy}}"),
     "f.yaml:10: expect.diagnosis.row: 'helthy' is not one of the 14 known values; "
     "did you mean healthy?"),
    (("name: t\n", "name: T t\n"),
     "f.yaml:1: name: expected a lower-case name (letters, digits, -), got 'T t'"),
    (("registrar: sip:example.com", "registrar: example.com"),
     "f.yaml:8: client.registrar: expected a sip: or sips: URI, got 'example.com'"),
    (("  transport: udp\n", "  transport: udp\n  path_mtu: big\n"),
     "f.yaml:8: client.path_mtu: expected an integer, got 'big'"),
    (("    listen:", "    unknown_user: 402\n    listen:"),
     "f.yaml:5: registrars[0].unknown_user: 402 is not one of 401, 403, 404"),
])
def test_mistakes_read_as_one_line_in_words(change, message):
    text = BASE.replace(*change)
    assert text != BASE
    assert errors_of(text)[0] == message


FAULTS = [
    ("{kind: mtu, transports: [udp]}", "faults[0].transports: unknown field; "
                                       "did you mean transport?"),
    ("{kind: mtu, size: 1}", "faults[0].size: unknown field; expected one of kind, "
                             "registrar, transport, name, mtu, direction"),
    ("{kind: mtu, transport: tcp}", "faults[0].transport: 'tcp' is not one of udp"),
    ("{kind: nat}", "faults[0].timeout: missing (required)"),
    ("{kind: nat, timeout: soon}", "faults[0].timeout: expected a duration such as 500ms, "
                                   "2s, 5min or 1.5 (seconds), got 'soon'"),
    ("{kind: nat, timeout: 30, refresh: inbound}",
     "faults[0].refresh: 'inbound' is not one of outbound, both; did you mean outbound?"),
    ("{kind: firewal, action: drop}", "faults[0].kind: 'firewal' is not one of firewall, "
                                      "not-listening, mtu, loss, latency, nat; "
                                      "did you mean firewall?"),
    ("{kind: latency, delay: 10ms, jitter: 20ms}",
     "faults[0].jitter: jitter (0.02 s) must not exceed delay (0.01 s): a packet cannot "
     "leave before it arrived"),
    ("{kind: firewall, action: drop, transport: tls}",
     "faults[0].transport: registrar pbx has no tls listener (it listens on udp, tcp)"),
]


@pytest.mark.parametrize("fault, message", FAULTS)
def test_fault_errors_name_the_scenarios_fields(fault, message):
    text = BASE.replace("client:", f"faults:\n  - {fault}\nclient:")
    assert errors_of(text)[0].split(": ", 1)[1] == message


@pytest.mark.parametrize("fault", [
    "{kind: nat, timeout: 30s, refresh: both}",      # documented: some NATs for TCP
    "{kind: nat, timeout: 2min}",
    "{kind: firewall, action: DROP, direction: To-Server, transport: udp}",
    "{kind: latency, delay: 0, name: slow link}",
    "{kind: mtu, mtu: 1400, registrar: pbx, transport: udp}",
])
def test_valid_faults(fault):
    assert errors_of(BASE.replace("client:", f"faults:\n  - {fault}\nclient:")) == []


DNS = """\
dns:
  zones:
    - origin: example.com
      records:
        - {name: _sip._udp.example.com, type: srv, priority: 1, weight: 1, port: 5060,
           target: pbx.example.com}
        - {name: pbx.example.com, type: A, address: "${pbx}"}
  faults:
    - {name: example.com, type: naptr, fault: DELAY, seconds: 300ms}
"""


def test_dns_values_in_any_case_and_durations_in_words_are_read():
    assert errors_of(BASE.replace("registrars:", DNS + "registrars:")) == []


@pytest.mark.parametrize("change, message", [
    (("${pbx}", "${pbxx}"), "dns.zones[0].records[1].address: unknown placeholder ${pbxx}; "
                            "did you mean ${pbx}? available: ${pbx}"),
    (("${pbx}", "${db}"), "dns.zones[0].records[1].address: unknown placeholder ${db}; "
                          "available: ${pbx}"),
    (("fault: DELAY, seconds: 300ms", "fault: servfail, seconds: 1"),
     "dns.faults[0].seconds: only a delay takes seconds, not servfail"),
    (("port: 5060,", "port: 5060, colour: 1,"),
     "dns.zones[0].records[0].colour: unknown field; expected one of name, type, ttl, "
     "priority, weight, port, target"),
    (("port: 5060,", "port: five,"),
     "dns.zones[0].records[0].port: expected an integer 0..65535, got 'five'"),
])
def test_dns_errors_have_single_paths_and_name_placeholders(change, message):
    text = BASE.replace("registrars:", DNS.replace(*change) + "registrars:")
    assert errors_of(text)[0].split(": ", 1)[1] == message


def test_placeholders_outside_the_replaced_fields_are_refused():
    text = BASE.replace("steps: [register]", "steps: [{call: {to: 'sip:bob@${pbx}'}}]")
    assert errors_of(text) == []
    text = BASE.replace("    listen:", "    realm: ${pbx}\n    listen:")
    assert errors_of(text) == ["f.yaml:5: registrars[0].realm: ${pbx} is replaced only in "
                               "dns, client.registrar, client.aor and call.to"]


@pytest.mark.parametrize("rtype", sorted(RECORD_FIELDS))
def test_record_fields_are_the_ones_the_dns_server_reads(rtype):
    values = {"integer": 1, "string": "x.example.com"}
    record = {"name": "example.com" if rtype == "SOA" else "a.example.com", "type": rtype}
    for name, field in RECORD_FIELDS[rtype].items():
        record[name] = values.get(field.get("type"), "x")
    if rtype == "A":
        record["address"] = "127.0.0.1"
    if rtype == "AAAA":
        record["address"] = "::1"
    Zone.from_data({"origin": "example.com", "records": [record]})
    with pytest.raises(DnsConfigError, match="unknown field"):
        Zone.from_data({"origin": "example.com", "records": [{**record, "undocumented": 1}]})
