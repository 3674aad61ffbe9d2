"""Fault data: every documented example parses, every mistake names its field."""

from __future__ import annotations

import random
import re

import pytest
import yaml
from twisted.internet.task import Clock

import servers.faults as faults
from servers.faults import (
    FAULT_KINDS,
    FAULT_SCHEMA,
    FaultConfigError,
    build_fault,
    parse_fault,
    parse_faults,
    validate_fault,
)
from testbed.sip import Transport


def doc_examples() -> list[dict]:
    """The YAML examples of the package docstring (indented blocks after ``::``)."""
    blocks = re.findall(r"::\n\n((?:    .*\n?)+)", faults.__doc__)
    return [item for block in blocks for item in yaml.safe_load(re.sub(r"(?m)^    ", "", block))]


def test_every_kind_has_a_documented_example_that_parses():
    examples = doc_examples()
    assert {e["kind"] for e in examples} == set(FAULT_KINDS)
    for example in examples:
        (spec,) = validate_fault(example)
        assert spec.kind == example["kind"]


def test_the_schema_describes_every_kind_and_field():
    assert set(FAULT_SCHEMA) == set(FAULT_KINDS)
    for kind, schema in FAULT_SCHEMA.items():
        assert schema["properties"]["kind"]["enum"] == list(FAULT_KINDS)
        assert set(schema["required"]) <= set(schema["properties"]), kind
        assert schema["description"]


@pytest.mark.parametrize("data, field, value", [
    ({"kind": "loss", "drop": [3, 1, 3]}, "drop", (1, 3)),
    ({"kind": "loss", "fraction": 0.25}, "fraction", 0.25),
    ({"kind": "latency", "delay": "80ms", "jitter": "0.02s"}, "delay", 0.08),
    ({"kind": "latency", "delay": 1}, "jitter", 0.0),
    ({"kind": "nat", "timeout": "1.5s"}, "timeout", 1.5),
    ({"kind": "nat", "timeout": 30}, "refresh", "outbound"),
    ({"kind": "mtu"}, "mtu", 1500),
    ({"kind": "mtu"}, "transports", (Transport.UDP,)),
    ({"kind": "firewall", "action": "DROP"}, "action", "drop"),
    ({"kind": "firewall", "action": "drop"}, "transports", (Transport.UDP, Transport.TCP)),
    ({"kind": "not-listening", "transports": ["TCP", "tcp"]}, "transports", (Transport.TCP,)),
    ({"kind": "relay", "name": " hop "}, "name", "hop"),
    ({"kind": "firewall", "action": "drop", "registrar": "pbx", "transport": "udp"},
     "direction", "both"),  # placement keys belong to the scenario and are ignored
])
def test_fields_are_checked_and_normalised(data, field, value):
    (spec,) = validate_fault(data)
    assert getattr(spec, field) == value


@pytest.mark.parametrize("data, path, message", [
    ("loss", (), "expected a fault mapping"),
    ({}, ("kind",), "missing"),
    ({"kind": "storm"}, ("kind",), "expected one of firewall, not-listening"),
    ({"kind": "loss", "fraction": 0.2, "rate": 1}, ("rate",), "unknown field for loss"),
    ({"kind": "loss"}, ("fraction",), "exactly one"),
    ({"kind": "loss", "fraction": 0.1, "drop": [1]}, ("fraction",), "exactly one"),
    ({"kind": "loss", "fraction": 1.5}, ("fraction",), "at most 1"),
    ({"kind": "loss", "fraction": True}, ("fraction",), "a number"),
    ({"kind": "loss", "drop": [1, 0]}, ("drop", 1), "at least 1"),
    ({"kind": "loss", "drop": []}, ("drop",), "at least 1 item"),
    ({"kind": "loss", "drop": "1,3"}, ("drop",), "a list"),
    ({"kind": "loss", "fraction": 0.1, "transports": ["tcp"]}, ("transports", 0),
     "one of udp"),
    ({"kind": "mtu", "mtu": 40}, ("mtu",), "at least 68"),
    ({"kind": "mtu", "mtu": 1500.5}, ("mtu",), "an integer"),
    ({"kind": "latency"}, ("delay",), "missing (required for latency)"),
    ({"kind": "latency", "delay": "fast"}, ("delay",), "a duration"),
    ({"kind": "latency", "delay": -1}, ("delay",), "0 or more seconds"),
    ({"kind": "latency", "delay": 0.01, "jitter": 0.02}, ("jitter",), "must not exceed"),
    ({"kind": "nat", "timeout": 0}, ("timeout",), "above 0"),
    ({"kind": "nat", "timeout": 30, "refresh": "inbound"}, ("refresh",), "outbound, both"),
    ({"kind": "firewall"}, ("action",), "missing"),
    ({"kind": "firewall", "action": "deny"}, ("action",), "one of drop, reject"),
    ({"kind": "firewall", "action": "reject", "direction": "to-client"}, ("direction",),
     "only act to-server"),
    ({"kind": "firewall", "action": "drop", "direction": "in"}, ("direction",),
     "to-server, to-client, both"),
])
def test_mistakes_name_the_field(data, path, message):
    with pytest.raises(FaultConfigError) as raised:
        validate_fault(data)
    assert raised.value.path == path
    assert message in raised.value.message


def test_paths_of_a_composed_list_carry_the_index():
    with pytest.raises(FaultConfigError) as raised:
        parse_faults([{"kind": "nat", "timeout": 30}, {"kind": "loss", "fraction": 2}])
    assert raised.value.path == ("faults", 1, "fraction")
    assert raised.value.index == 1 and raised.value.field == "fraction"
    assert str(raised.value).startswith("faults[1].fraction: expected a value of at most 1")


def test_parse_fault_takes_a_path_prefix():
    with pytest.raises(FaultConfigError) as raised:
        parse_fault({"kind": "nat"}, ("scenario", "faults", 4))
    assert str(raised.value) == "scenario.faults[4].timeout: missing (required for nat)"


@pytest.mark.parametrize("text, seconds", [
    (0.5, 0.5), (2, 2.0), ("300ms", 0.3), ("1.5s", 1.5), (" 7 ", 7.0), (".25s", 0.25)])
def test_durations(text, seconds):
    (spec,) = validate_fault({"kind": "latency", "delay": text})
    assert spec.delay == pytest.approx(seconds)


def test_a_bad_duration_names_its_field_in_a_list():
    with pytest.raises(FaultConfigError) as raised:
        parse_faults([{"kind": "nat", "timeout": 30}, {"kind": "latency", "delay": "soon"}])
    assert str(raised.value).startswith("faults[1].delay: expected a duration")


# -- what cannot share a port is refused before anything is opened ---------------------------


@pytest.mark.parametrize("specs, path, message", [
    ([{"kind": "not-listening"}, {"kind": "loss", "fraction": 0.1}], ("faults", 1),
     "not-listening leaves UDP packets to the kernel"),
    ([{"kind": "latency", "delay": 0.1}, {"kind": "firewall", "action": "drop"}],
     ("faults", 1), "firewall leaves TCP packets to the kernel"),
    ([{"kind": "nat", "timeout": 1}, {"kind": "nat", "timeout": 2}], ("faults", 1),
     "a second NAT on UDP"),
    ([{"kind": "mtu", "transports": ["udp"]}], ("faults", 0, "transports"),
     "which this proxy does not carry"),
])
def test_conflicts_are_refused_with_the_path(specs, path, message):
    upstream = ("TCP", "127.0.0.1", 5060) if "mtu" in str(specs) else \
        [("UDP", "127.0.0.1", 5060), ("TCP", "127.0.0.1", 5060)]
    with pytest.raises(FaultConfigError) as raised:
        build_fault(specs, reactor=Clock(), upstream=upstream, listen_host="127.0.0.1",
                    rng=random.Random(0), path=("faults",))
    assert raised.value.path == path
    assert message in raised.value.message
