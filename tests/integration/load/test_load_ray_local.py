"""``testbed load --workers K``: a local Ray runtime of its own; a cluster that cannot be
reached fails in seconds with one line; one worker never imports Ray."""

import json
import os
import subprocess
import sys
import time

import pytest

ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}


def load(*argv, env=None, timeout=180):
    return subprocess.run([sys.executable, "-m", "testbed.cli", "load", "sip:example.com",
                           "--endpoints", "10", "--password", "pw", "--t1", "100ms", *argv],
                          capture_output=True, text=True, timeout=timeout, env=env or ENV)


def test_workers_start_a_local_ray_runtime(tmp_path):
    out = tmp_path / "load.json"
    completed = load("--count", "200", "--workers", "2", "--server-process", "--json", str(out))
    assert completed.returncode == 0, completed.stderr + completed.stdout
    lines = completed.stdout.splitlines()
    assert any(line.startswith("ray: local Ray runtime: 1 node, started in ") for line in lines)
    assert "  worker 0: alice0..alice4 on 127.0.0.2" in completed.stdout
    assert "  worker 1: alice5..alice9 on 127.0.0.2" in completed.stdout
    assert "200 attempted, 200 succeeded, 0 failed" in completed.stdout
    data = json.loads(out.read_text())
    assert data["ray"]["startup_s"] > 0 and len(data["ray"]["workers"]) == 2
    assert data["result"]["workers"] == 2 and data["result"]["latency"]["UDP"]["count"] == 200


@pytest.mark.parametrize(("argv", "env", "line"), [
    (["--cluster", "127.0.0.1:1"], {},
     "testbed load: Ray cluster 127.0.0.1:1 cannot be reached: Connection refused (within 3 s)"),
    (["--cluster", "ray://127.0.0.1:1"], {},
     "testbed load: Ray cluster ray://127.0.0.1:1 cannot be reached: Connection refused "
     "(within 3 s)"),
    (["--cluster", "auto"], {"RAY_ADDRESS": "127.0.0.1:1"},
     "testbed load: Ray cluster 127.0.0.1:1 cannot be reached: Connection refused (within 3 s)"),
])
def test_an_unreachable_cluster_fails_in_seconds_with_one_line(argv, env, line):
    begun = time.monotonic()
    completed = load("--count", "10", *argv, env={**ENV, **env}, timeout=60)
    assert completed.returncode == 1
    assert completed.stderr.strip() == line
    assert time.monotonic() - begun < 20  # Ray alone would retry for a minute or more


def test_one_worker_runs_in_this_process_without_ray():
    code = ("import sys; from testbed.cli import main; "
            "code = main(['load', 'sip:example.com', '--server-process', '--count', '5', "
            "'--password', 'pw', '--no-progress', '--t1', '100ms']); "
            "assert 'ray' not in sys.modules, 'ray imported'; sys.exit(code)")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               timeout=60, env=ENV)
    assert completed.returncode == 0, completed.stderr + completed.stdout
    assert "5 attempted, 5 succeeded, 0 failed" in completed.stdout


SCENARIO = """
name: load-on-two-workers
troubleshooting: healthy
timers: {t1: 20ms}
registrars:
  - name: pbx
    domain: sip.example.com
    listen: [{transport: tcp}]
client:
  transport: tcp
  registrar: sip:sip.example.com
  user: alice
  password: secret
steps:
  - load: {endpoints: 10, count: 40, workers: 2, expect: {ok: true}}
"""


def test_a_scenario_load_step_on_two_local_workers(tmp_path):
    path = tmp_path / "load-on-two-workers.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    out = tmp_path / "results.json"
    completed = subprocess.run([sys.executable, "-m", "testbed.cli", "run", str(path),
                                "--json", str(out)],
                               capture_output=True, text=True, timeout=180, env=ENV)
    assert completed.returncode == 0, completed.stderr + completed.stdout
    text = out.read_text()
    assert "register load, TCP, 10 endpoints, 2 workers:" in text
    assert "40 attempted, 40 succeeded, 0 failed" in text
