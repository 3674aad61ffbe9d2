"""LoadConfig: validation in one line, worker slices that cover every user once, JSON."""

import pytest

from testbed.load import LoadConfig
from testbed.sip import SipUri, Timers


def config(**changes):
    changes.setdefault("duration", 1.0)
    return LoadConfig(registrar="sip:127.0.0.1:5060", **changes)


@pytest.mark.parametrize(("changes", "message"), [
    ({"duration": None}, "duration or a count"),
    ({"transport": "sctp"}, "transport"),
    ({"operation": "subscribe"}, "operation"),
    ({"endpoints": 0}, "endpoints"),
    ({"rate": 0}, "rate"),
    ({"rate": float("inf")}, "rate"),
    ({"duration": -1}, "duration"),
    ({"count": -1}, "count"),
    ({"window": 0}, "window"),
    ({"connections": "pooled"}, "connections"),
    ({"time_limit": 0}, "time_limit"),
])
def test_mistakes_are_one_line_value_errors(changes, message):
    with pytest.raises(ValueError, match=message):
        config(**changes)


def test_defaults_and_derived_values():
    c = config(endpoints=3, user_prefix="bob", first_user=10)
    assert isinstance(c.registrar, SipUri) and c.aor_domain == "127.0.0.1"
    assert [c.user(i) for i in range(3)] == ["bob10", "bob11", "bob12"]
    assert c.in_flight_limit == 3
    assert config(endpoints=10, window=4).in_flight_limit == 4
    assert config(endpoints=2, window=50).in_flight_limit == 2
    assert config(timers=Timers(t1=0.1, t2=0.8, t4=1.0)).drain_seconds == pytest.approx(
        2 * 6.4 + 5.0)
    assert config(drain=0.5).drain_seconds == 0.5
    client = config(password="pw", domain="example.com").client_config(1)
    assert str(client.aor) == "sip:alice1@example.com" and client.password == "pw"


@pytest.mark.parametrize(("endpoints", "workers", "count", "rate"), [
    (10, 3, 100, 30.0), (7, 7, 7, None), (1000, 4, None, 1000.0), (5, 2, 1, 10.0),
])
def test_slices_cover_every_user_once_and_split_count_and_rate(endpoints, workers, count,
                                                               rate):
    whole = config(endpoints=endpoints, count=count, rate=rate, window=endpoints)
    parts = [whole.slice(i, workers) for i in range(workers)]
    users = [p.user(i) for p in parts for i in range(p.endpoints)]
    assert users == [whole.user(i) for i in range(endpoints)]
    if count is not None:
        assert sum(p.count for p in parts) == count
    if rate is not None:
        assert sum(p.rate for p in parts) == pytest.approx(rate)
    assert len({p.seed for p in parts}) == workers
    assert all(p.duration == whole.duration for p in parts)


def test_slice_needs_an_endpoint_per_worker():
    with pytest.raises(ValueError, match="at least one endpoint"):
        config(endpoints=2).slice(0, 3)
    with pytest.raises(ValueError):
        config(endpoints=2).slice(2, 2)


def test_json_round_trip():
    original = config(endpoints=4, count=9, rate=5.5, password="pw", ca_pem=b"PEM",
                      dns=[("127.0.0.5", 53)], hosts={"example.com": "127.0.0.5"},
                      timers=Timers(t1=0.05, t2=0.4, t4=0.5), transport="auto")
    assert LoadConfig.from_json(original.to_json()) == original
