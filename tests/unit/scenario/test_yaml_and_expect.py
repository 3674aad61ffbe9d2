"""Line-aware YAML, durations, substitution and expectation comparison."""

import pytest

from testbed.client import Exchange, Outcome
from testbed.scenario import ScenarioError, format_path, load_with_lines, seconds
from testbed.scenario._expect import check_outcome
from testbed.scenario._world import scenario_timers, substitute


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


def test_format_path():
    assert format_path(("steps", 2, "call", "sdp_size")) == "steps[2].call.sdp_size"


@pytest.mark.parametrize("value, expected", [(2, 2.0), ("50ms", 0.05), ("1.5s", 1.5), (0.2, 0.2)])
def test_durations(value, expected):
    assert seconds(value) == pytest.approx(expected)


def test_timers_scale_with_t1():
    timers = scenario_timers({"timers": {"t1": "50ms"}})
    assert (timers.t1, timers.t2, timers.t4) == pytest.approx((0.05, 0.4, 0.5))
    assert timers.timer_f == pytest.approx(3.2)
    assert scenario_timers({}).t1 == 0.5


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
