"""``make soak``'s phases at small counts, end to end: ``testbed serve`` in a process of
its own, a soak with its checkpoints, the SIP and DNS barrages with every liveness check
answered, and the hardening phase's on/off figures. (``make soak`` itself, a million
requests and a million bad messages, is not part of ``make test``.)"""

import json
import subprocess
import sys


def test_soak_barrage_and_hardening_phases_at_small_counts(tmp_path):
    out = tmp_path / "soak.json"
    completed = subprocess.run(
        [sys.executable, "-m", "testbed.bench", "--only", "hardening,soak,barrage",
         "--runs", "1", "--seconds", "0.5", "--soak-requests", "2000", "--barrage", "200",
         "--dns-barrage", "200", "--registrar-cost", "200", "--json", str(out)],
        capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr + completed.stdout
    phases = json.loads(out.read_text())["phases"]

    soak = phases["soak"]
    assert soak["alive"] and soak["failed"] == 0 and soak["requests"] >= 2000
    assert soak["tracebacks"] == 0
    assert [s["requests"] >= 10_000 for s in soak["samples"]] == [False]  # one: the total
    assert soak["samples"][-1]["rss_kib"] > 0

    barrage = phases["barrage"]
    runs = {(run["transport"], run["seed"]): run for run in barrage["runs"]}
    assert set(runs) == {("UDP", 1), ("UDP", 2), ("TCP", 1), ("TCP", 2)}
    dns = {run["transport"]: run for run in barrage["dns"]}
    assert set(dns) == {"UDP", "TCP"} and sum(r["messages"] for r in dns.values()) == 200
    for run in [*runs.values(), *dns.values()]:
        assert run["alive"] and run["checks"] == run["answered"] >= 1, run
        assert run["tracebacks"] == 0, run  # peer input never gives one
        if run["transport"] == "UDP":  # some bad input is answered (400, FORMERR)
            assert run["responses"] > run["answered"], run
    assert barrage["alive"]

    assert phases["hardening"]["registrar_cpu"]["registrations"] == 200
    for transport in ("UDP", "TCP"):
        entry = phases["hardening"]["our client, digest"][transport]
        assert entry["on"]["rate"] > 0 and entry["off"]["rate"] > 0 and entry["ratio"] > 0
        assert entry["on"]["cpu_us_per_request"] > 0 and entry["cpu_ratio"] > 0
        assert entry["on"]["runs"][0]["failed"] == 0 == entry["off"]["runs"][0]["failed"]
    assert "DNS barrage TCP seed 1: liveness answered" in completed.stdout
