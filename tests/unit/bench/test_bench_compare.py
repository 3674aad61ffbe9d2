"""The comparison bookkeeping of the benchmark (windows, alternation, ratio, table) and
the NSD zone and dnsperf input it writes: no timing is asserted, only what is measured
and how the figures are put together."""

from __future__ import annotations

import pytest_twisted

from testbed.bench import rows
from testbed.bench._compare import Setting, Side, compare
from testbed.bench._nsd import NSD_CONFIG, questions, zone_file
from testbed.load import sip_zone


def fixed(rates: dict[int, float], calls: list[tuple[str, int, float]], key: str):
    async def measure(setting: Setting, seconds: float) -> dict[str, float]:
        calls.append((key, setting.window, seconds))
        return {"rate": rates[setting.window] * setting.processes ** 0.5}

    return measure


@pytest_twisted.ensureDeferred
async def test_each_side_at_its_best_window_alternately():
    calls: list[tuple[str, int, float]] = []
    ours = Side("ours", "ours", fixed({10: 50.0, 100: 80.0}, calls, "ours"), (10, 100))
    theirs = Side("ref", "ref", fixed({10: 400.0, 100: 200.0}, calls, "ref"), (10, 100))
    said: list[str] = []
    out = await compare(ours, theirs, runs=3, seconds=2.0, probe_seconds=0.5, target=0.5,
                        say=said.append)
    assert calls[:4] == [("ours", 10, 0.5), ("ours", 100, 0.5), ("ref", 10, 0.5),
                         ("ref", 100, 0.5)]
    assert calls[4:] == [("ours", 100, 2.0), ("ref", 10, 2.0)] * 3  # alternately
    assert out["ours"]["window"] == 100 and out["ref"]["window"] == 10
    assert out["ratio"] == 0.2 and out["target"] == 0.5
    assert "not met" in said[-1]


@pytest_twisted.ensureDeferred
async def test_a_setting_over_two_processes_is_probed_and_reported():
    calls: list[tuple[str, int, float]] = []
    ours = Side("ours", "ours", fixed({50: 100.0, 100: 90.0}, calls, "ours"),
                (Setting(50), Setting(100, 2)))
    theirs = Side("ref", "ref", fixed({400: 200.0}, calls, "ref"), (400,))
    out = await compare(ours, theirs, runs=1, seconds=2.0, probe_seconds=0.5, target=0.5,
                        say=lambda _: None)
    assert (out["ours"]["window"], out["ours"]["processes"]) == (100, 2)
    assert out["ours"]["probes"] == {"50": 100, "100x2": 127}
    assert (out["ref"]["window"], out["ref"]["processes"], out["ref"]["probes"]) == (400, 1, {})
    data = {"phases": {"sipp": {"UDP": out | {"sipp": out["ref"]}}}}
    row = {r[0]: r[1:] for r in rows(data)}["REGISTER/s our client -> SIPp UAS, UDP"]
    assert row[0] == "127 (w 100x2)"


def test_the_table_shows_windows_and_the_dns_ratio():
    data = {"phases": {
        "registrar": {"UDP": {"ours": {"rate": 6000, "window": 400},
                              "kamailio": {"rate": 10000, "window": 100},
                              "ratio": 0.6, "target": 0.5}},
        "dns": {"ours": {"rate": 30000, "window": 500}, "nsd": {"rate": 100000, "window": 500},
                "ratio": 0.3, "target": 0.1, "rate": 30000}}}
    table = {row[0]: row[1:] for row in rows(data)}
    assert table["REGISTER/s SIPp UAC -> our registrar, UDP"] == (
        "6,000 (w 400)", "Kamailio 10,000 (w 100)", "0.60x", ">= 0.5x met")
    assert table["DNS queries/s under dnsperf, NAPTR/SRV/A"] == (
        "30,000 (w 500)", "NSD 100,000 (w 500)", "0.30x", ">= 0.1x met")


def test_nsd_serves_the_zone_our_server_serves():
    zone = sip_zone("example.com", "127.0.0.5", {"udp": ("127.0.0.5", 5060),
                                                 "tcp": ("127.0.0.5", 5070)})
    text = zone_file(zone)
    assert "$ORIGIN example.com." in text and "IN SOA" in text and "IN NS" in text
    assert 'example.com. IN NAPTR 20 10 "s" "SIP+D2T" "" _sip._tcp.example.com.' in text
    assert "_sip._udp.example.com. IN SRV 10 10 5060 pbx.example.com." in text
    assert "pbx.example.com. IN A 127.0.0.5" in text
    assert questions(zone) == ["example.com NAPTR", "_sip._tcp.example.com SRV",
                               "pbx.example.com A"]
    config = NSD_CONFIG.format(host="127.0.0.5", port=5353, folder="/tmp/x",
                               origin="example.com")
    assert "server-count: 1" in config and "rrl-ratelimit: 0" in config
