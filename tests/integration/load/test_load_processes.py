"""Load across processes: our registrar in a process of its own, a load over plain
processes (``run_processes``) and the ``testbed load`` command line (workers on Ray:
test_load_ray*.py). Tiny loads; counts must add up."""

import csv
import json
import subprocess
import sys

import pytest

from testbed.load import LoadConfig, ProcessError, ServerProcess, ServerSpec, run_processes
from testbed.sip import Timers, parse_uri


@pytest.fixture
def registrar_process():
    server = ServerProcess(ServerSpec(transports=("udp", "tcp"), users=8, password="pw",
                                      time_limit=120))
    server.start()
    yield server
    server.stop()


def test_server_process_reports_its_addresses_and_state(registrar_process):
    ready = registrar_process.ready
    assert set(ready["listen"]) == {"udp", "tcp"} and ready["pid"] == registrar_process.pid
    stats = registrar_process.command("gc")
    assert stats["bindings"] == 0 and stats["rss_kib"] > 0
    assert registrar_process.uri("tcp").endswith(";transport=tcp")


def test_command_line_with_its_own_server_process(tmp_path):
    out, stats = tmp_path / "load.json", tmp_path / "stats.csv"
    completed = subprocess.run(
        [sys.executable, "-m", "testbed.cli", "load", "sip:example.com", "--transport", "tcp",
         "--endpoints", "20", "--count", "60", "--password", "pw", "--server-process",
         "--json", str(out), "--t1", "100ms", "--stats-csv", str(stats),
         "--stats-interval", "200ms"],
        capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr + completed.stdout
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("registrar process ") and "DNS" in lines[0]
    assert any(line.startswith("load ") and line.endswith("p99 ms") for line in lines)
    assert any(line.startswith("total ") and line.endswith("done") for line in lines)
    assert "60 attempted, 60 succeeded, 0 failed" in completed.stdout
    data = json.loads(out.read_text())
    assert data["result"]["succeeded"] == 60 and data["result"]["errors"] == {}
    assert data["result"]["latency"]["TCP"]["count"] == 60
    assert data["config"]["password"] == "(given)"
    intervals = data["result"]["intervals"]
    assert data["result"]["interval_s"] == 0.2 and intervals[-1]["cumulative"]["succeeded"] == 60
    rows = list(csv.DictReader(stats.open()))
    assert len(rows) == len(intervals)
    assert sum(int(r["succeeded"]) for r in rows) == int(rows[-1]["cum_succeeded"]) == 60
    assert int(rows[-1]["cum_status_200"]) == 60 and rows[-1]["cum_failed_timeout"] == "0"
    assert [float(r["start_s"]) for r in rows] == sorted(float(r["start_s"]) for r in rows)


@pytest.mark.parametrize(("options", "message"), [
    (["--stats-interval", "10ms"], "stats_interval must be at least 0.1 s, not 0.01"),
    (["--stats-csv", "/nonexistent/dir/stats.csv"],
     "--stats-csv /nonexistent/dir/stats.csv: No such file or directory"),
])
def test_command_line_statistics_mistakes_are_one_line(options, message):
    completed = subprocess.run(
        [sys.executable, "-m", "testbed.cli", "load", "sip:127.0.0.1:9", "--count", "1",
         *options], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2
    assert completed.stderr.strip() == f"testbed load: {message}"


def test_command_line_usage_mistake_is_one_line():
    completed = subprocess.run(
        [sys.executable, "-m", "testbed.cli", "load", "sip:example.com", "--endpoints", "3"],
        capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2
    assert completed.stderr.strip() == ("testbed load: give --duration or --count (or both): "
                                        "a load run must end")


def test_a_load_over_two_plain_processes_adds_up(registrar_process):
    """``run_processes``: two slices at once, each its own users, their counts merged
    exactly; the registrar saw every user of both (8 bindings, each user once)."""
    config = LoadConfig(registrar=parse_uri(registrar_process.uri("tcp")), transport="tcp",
                        endpoints=8, count=40, password="pw", domain="example.com",
                        timers=Timers.scaled(0.1))
    result = run_processes(config, 2)
    assert (result.attempted, result.succeeded, result.failed) == (40, 40, 0)
    assert result.statuses[200] == 40 and result.latency().count == 40
    assert registrar_process.command("stats")["bindings"] == 8


def test_a_load_process_that_cannot_start_is_one_error():
    config = LoadConfig(registrar=parse_uri("sip:127.0.0.1:5"), endpoints=2, count=2)
    with pytest.raises(ProcessError, match="load process .*no ready line"):
        run_processes(config, 1, python="/bin/false", timeout=10)
