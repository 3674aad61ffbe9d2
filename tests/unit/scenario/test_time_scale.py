"""time_scale: every duration of a file scaled, stated and scaled figures both kept."""

import pytest

from testbed.scenario import DURATION_PATHS, parse, scenario_timers

NAT = """\
name: nat-real-world
troubleshooting: nat-timeout
time_scale: 0.1
timers: {t2: 4s}
dns:
  zones: [{origin: example.com, records: [{name: pbx.example.com, type: A, address: "${pbx}"}]}]
  faults: [{name: example.com, fault: delay, seconds: 2}]
registrars:
  - name: pbx
    listen: [{transport: udp}]
faults:
  - {kind: nat, timeout: 30s}
  - {kind: latency, delay: 80ms, jitter: 20ms}
client:
  transport: udp
  registrar: sip:pbx.example.com
  keepalive: 25s
steps:
  - register
  - wait: 2min
  - keepalive: {interval: 15}
  - load: {endpoints: 2, duration: 10s, rate: 5}
"""


def test_every_duration_field_of_the_schema_is_found():
    assert set(DURATION_PATHS) == {
        ("timers", "t1"), ("timers", "t2"), ("timers", "t4"), ("client", "keepalive"),
        ("steps", "*", "wait"), ("steps", "*", "keepalive", "interval"),
        ("steps", "*", "load", "duration"), ("faults", "*", "delay"),
        ("steps", "*", "await_register", "within"), ("steps", "*", "call_client", "within"),
        ("faults", "*", "jitter"), ("faults", "*", "timeout"),
        ("dns", "faults", "*", "seconds"),
        *(("registrars", "*", "connections", name) for name in (
            "handshake_timeout", "first_message_timeout", "message_timeout", "idle_timeout"))}


def test_every_duration_is_scaled_and_the_stated_one_kept():
    scenario = parse(NAT, "nat.yaml")
    data = scenario.data
    assert scenario.time_scale == 0.1
    assert data["faults"][0]["timeout"] == pytest.approx(3.0)
    assert (data["faults"][1]["delay"], data["faults"][1]["jitter"]) == pytest.approx(
        (0.008, 0.002))
    assert data["client"]["keepalive"] == pytest.approx(2.5)
    assert data["steps"][1]["wait"] == pytest.approx(12.0)
    assert data["steps"][2]["keepalive"]["interval"] == pytest.approx(1.5)
    assert data["steps"][3]["load"]["duration"] == pytest.approx(1.0)
    assert data["steps"][3]["load"]["rate"] == 5  # a rate is not a duration
    assert data["dns"]["faults"][0]["seconds"] == pytest.approx(0.2)
    assert scenario.stated["faults"][0]["timeout"] == "30s"
    assert scenario.stated["steps"][1]["wait"] == "2min"


def test_timers_follow_the_scale_including_the_default_t1():
    timers = scenario_timers(parse(NAT, "nat.yaml").data)
    assert (timers.t1, timers.t2) == pytest.approx((0.05, 0.4))
    assert timers.timer_f == pytest.approx(3.2)
    unscaled = parse(NAT.replace("time_scale: 0.1\n", ""), "nat.yaml")
    assert scenario_timers(unscaled.data).t1 == 0.5
    assert "t1" not in unscaled.data["timers"]


def test_reports_read_both_figures():
    scenario = parse(NAT, "nat.yaml")
    wait = scenario.duration(("steps", 1, "wait"))
    assert (wait.stated, wait.seconds, wait.scaled) == ("2min", 120.0, pytest.approx(12.0))
    assert str(wait) == "120 s (12 s scaled)"
    assert str(scenario.duration(("faults", 1, "delay"))) == "80 ms (8 ms scaled)"
    assert str(scenario.duration(("timers", "t1"))) == "500 ms (50 ms scaled)"
    assert scenario.duration(("steps", 0, "wait")) is None
    plain = parse(NAT.replace("time_scale: 0.1\n", ""), "nat.yaml")
    assert str(plain.duration(("steps", 1, "wait"))) == "120 s"
    assert plain.data["steps"][1]["wait"] == 120.0


def test_values_checked_by_the_servers_are_checked_as_stated():
    broken = NAT.replace("jitter: 20ms", "jitter: 90ms")
    with pytest.raises(Exception) as raised:
        parse(broken, "nat.yaml")
    assert str(raised.value) == ("nat.yaml:13: faults[1].jitter: jitter (0.09 s) must not "
                                 "exceed delay (0.08 s): a packet cannot leave before it "
                                 "arrived")
