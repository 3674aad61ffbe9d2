"""Line-aware YAML, timers, substitution and expectation comparison."""

import pytest

from testbed.client import Exchange, Outcome
from testbed.scenario import (
    ScenarioError,
    check_outcome,
    load_with_lines,
    scenario_timers,
    substitute,
)


def test_lines_of_nested_values():
    located = load_with_lines("a:\n  b:\n    - x\n    - {c: 3}\n", "f.yaml")
    assert located.data == {"a": {"b": ["x", {"c": 3}]}}
    assert located.line_of(("a", "b", 1, "c")) == 4
    assert located.line_of(("a", "b", 0)) == 3
    assert located.line_of(("a", "missing")) == 2  # nearest ancestor


def test_duplicate_keys_and_syntax_errors_cite_the_line():
    with pytest.raises(ScenarioError) as info:
        load_with_lines("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert str(info.value) == "f.yaml:3: a: duplicate key"
    with pytest.raises(ScenarioError) as info:
        load_with_lines("a: [1, 2\n", "f.yaml")
    assert str(info.value).startswith("f.yaml:2: invalid YAML")


def test_errors_cite_the_field_path():
    located = load_with_lines("steps:\n  - x\n  - call: {sdp_size: -5}\n", "f.yaml")
    error = located.error(("steps", 1, "call", "sdp_size"), "too small")
    assert str(error) == "f.yaml:3: steps[1].call.sdp_size: too small"


def test_timers_scale_with_t1():
    timers = scenario_timers({"timers": {"t1": "50ms"}})
    assert (timers.t1, timers.t2, timers.t4) == pytest.approx((0.05, 0.4, 0.5))
    assert timers.timer_f == pytest.approx(3.2)
    assert scenario_timers({}).t1 == 0.5


def test_timers_given_explicitly_are_kept():
    timers = scenario_timers({"timers": {"t1": "100ms", "t2": "2s", "t4": 3}})
    assert (timers.t1, timers.t2, timers.t4) == pytest.approx((0.1, 2.0, 3.0))
    assert scenario_timers({"timers": {"t1": "1s", "t2": "500ms"}}).t2 == 1.0  # never below T1


def test_substitution_is_recursive():
    data = {"a": ["${pbx}", {"b": "x ${pbx} ${db}"}], "n": 3}
    assert substitute(data, {"pbx": "127.0.0.7", "db": "127.0.0.8"}) == {
        "a": ["127.0.0.7", {"b": "x 127.0.0.7 127.0.0.8"}], "n": 3}


def make_outcome():
    exchanges = [Exchange("REGISTER", "TLS", ("h", 5061), 0, ended=1, error="tls"),
                 Exchange("REGISTER", "TCP", ("h", 5060), 1, ended=2, status=200,
                          transmissions=1)]
    return Outcome("register", True, "REGISTERED via h:5060/TCP", status=200, transport="TCP",
                   remote=("h", 5060), exchanges=exchanges, resolution=["NAPTR x → 2 records"])


@pytest.mark.parametrize("expect, failures", [
    ({"ok": True, "transport": "TCP", "port": 5060, "status": 200}, []),
    ({"tried": ["TLS:5061", "TCP:5060"], "exchanges": 2}, []),
    ({"transmissions": {"min": 1, "max": 1}}, []),
    ({"resolution_contains": "NAPTR"}, []),
    ({"transport": "UDP"}, ["transport: expected 'UDP', got 'TCP'"]),
    ({"exchanges": {"max": 1}}, ["exchanges: expected ..1, got 2"]),
    ({"summary_contains": ["REGISTERED", "nope"]},
     ["summary_contains: expected to contain 'nope', got 'REGISTERED via h:5060/TCP'"]),
])
def test_check_outcome(expect, failures):
    result = check_outcome(expect, make_outcome())
    assert (result[:-1] if result else []) == failures
    if failures:
        assert result[-1].startswith("(outcome was: ")
