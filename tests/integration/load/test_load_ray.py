"""Load workers on a two-node Ray cluster on one machine (nodes on 127.0.0.2 and
127.0.0.3, started once for the module): exact merges, a killed worker, Prometheus,
the command line by cluster address, the scenario step. Every address is loopback."""

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
import pytest_twisted
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import reactor

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine

import ray  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from testbed.load import (  # noqa: E402
    LoadConfig,
    LoadMetrics,
    ServerProcess,
    ServerSpec,
    WorkerPlan,
    load_step,
    run_workers,
)
from testbed.scenario import World, parse  # noqa: E402

NODES = ("127.0.0.2", "127.0.0.3")


@pytest.fixture(scope="module")
def cluster():
    nodes = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "node_ip_address": NODES[0], "include_dashboard": False})
    nodes.add_node(num_cpus=1, node_ip_address=NODES[1])
    nodes.wait_for_nodes()
    ray.init(address=nodes.address, logging_level=logging.ERROR, log_to_driver=False)
    yield nodes
    ray.shutdown()
    nodes.shutdown()


@pytest.fixture
def registrar():
    server = ServerProcess(ServerSpec(transports=("udp",), users=16, password="pw",
                                      time_limit=120))
    server.start()
    yield server
    server.stop()


def config(server, **changes):
    values = {"registrar": server.uri("udp"), "transport": "udp", "endpoints": 8, "count": 80,
              "password": "pw", "domain": "example.com", "time_limit": 60}
    return LoadConfig(**{**values, **changes})


def test_two_nodes_split_the_endpoints_and_merge_exactly(cluster, registrar):
    seen = []
    run = run_workers(config(registrar), WorkerPlan(cluster=cluster.address),
                      progress=seen.append, progress_interval=0.2)
    assert run.lost == [] and run.result.check() == []
    assert [(w.address, w.first_user, w.last_user) for w in run.workers] == [
        ("127.0.0.2", "alice0", "alice3"), ("127.0.0.3", "alice4", "alice7")]
    assert len({w.pid for w in run.workers}) == 2
    merged, parts = run.result, run.parts
    assert merged.workers == 2 and merged.endpoints == 8
    for name in ("attempted", "succeeded", "failed", "unfinished"):
        assert getattr(merged, name) == sum(getattr(p, name) for p in parts), name
    assert merged.attempted == merged.succeeded == 80 and all(p.succeeded == 40 for p in parts)
    assert merged.statuses[200] == sum(p.statuses[200] for p in parts) == 80
    assert merged.latency("UDP").count == sum(p.latency("UDP").count for p in parts) == 80
    assert merged.retransmissions == sum(p.retransmissions for p in parts)
    assert sum(i.succeeded for i in merged.intervals) == 80  # intervals merged by index
    assert registrar.command("stats")["bindings"] == 8  # distinct users, once each
    assert seen[-1].done and seen[-1].succeeded == 80 and seen[-1].in_flight == 0
    assert [p.done for p in seen].count(True) == 1


def test_a_killed_worker_is_reported_and_the_others_merged(cluster, registrar):
    pids = {}
    killed = []

    def kill_the_second(progress):
        if progress.attempted >= 20 and not killed:
            os.kill(pids[1], signal.SIGKILL)
            killed.append(progress.attempted)

    run = run_workers(config(registrar, count=400, rate=100),
                      WorkerPlan(cluster=cluster.address), progress=kill_the_second,
                      progress_interval=0.2,
                      started=lambda workers: pids.update({w.index: w.pid for w in workers}))
    assert killed
    assert [lost.index for lost in run.lost] == [1]
    assert "died" in run.lost[0].reason
    assert not run.ok
    survivor, gone = run.parts
    assert survivor.succeeded == 200 and survivor.unfinished == 0
    # What it reported in whole intervals stays; the rest of its slice is unfinished.
    assert gone.attempted == 200 and gone.failed == 0 and gone.unfinished > 0
    assert gone.check() == []
    merged = run.result
    assert merged.attempted == 400 and merged.unfinished == gone.unfinished
    assert merged.succeeded == 200 + gone.succeeded and merged.check() == []
    assert any(note.startswith("worker 1 (alice4..alice7) lost: ") for note in merged.notes)


def test_prometheus_sees_the_whole_cluster(cluster, registrar):
    metrics = LoadMetrics("register")
    port = metrics.serve(0, "127.0.0.1")
    try:
        run = run_workers(config(registrar, count=60), WorkerPlan(cluster=cluster.address),
                          progress_interval=0.2, live=metrics.update)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as page:
            text = page.read().decode()
    finally:
        metrics.close()
    assert run.ok
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    op = (("operation", "register"),)
    assert samples[("testbed_load_attempts_total", op)] == 60
    assert samples[("testbed_load_successes_total", op)] == 60
    assert samples[("testbed_load_in_flight", op)] == 0
    udp = (("operation", "register"), ("transport", "UDP"))
    assert samples[("testbed_load_latency_seconds_count", udp)] == 60
    assert samples[("testbed_load_latency_seconds_bucket", (("le", "+Inf"), *udp))] == 60
    assert samples[("testbed_load_workers", (("state", "running"),))] == 2


def test_command_line_runs_on_the_cluster_by_its_address(cluster, tmp_path):
    address = cluster.address
    out = tmp_path / "load.json"
    completed = subprocess.run(
        [sys.executable, "-m", "testbed.cli", "load", "sip:example.com", "--endpoints", "6",
         "--count", "30", "--password", "pw", "--server-process", "--t1", "100ms",
         "--cluster", address, "--json", str(out)],
        capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr + completed.stdout
    assert f"ray: Ray cluster {address}: 2 nodes, started in " in completed.stdout
    assert "30 attempted, 30 succeeded, 0 failed" in completed.stdout
    data = json.loads(out.read_text())
    assert [w["address"] for w in data["ray"]["workers"]] == list(NODES)
    assert data["ray"]["lost"] == [] and data["result"]["workers"] == 2


def test_command_line_reports_a_killed_worker_and_exits_1(cluster):
    process = subprocess.Popen(
        [sys.executable, "-m", "testbed.cli", "load", "sip:example.com", "--endpoints", "6",
         "--count", "60", "--rate", "20", "--password", "pw", "--server-process",
         "--t1", "100ms", "--cluster", cluster.address, "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            found = re.search(r"worker 1: alice3\.\.alice5 on 127\.0\.0\.3 \(pid (\d+)", line)
            if found:
                os.kill(int(found.group(1)), signal.SIGKILL)
                break
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(lines) + out
    assert process.returncode == 1, output + err
    assert "60 attempted, 30 succeeded, 0 failed, 30 unfinished" in output
    assert re.search(r"  lost: worker 1 after \d+\.\d s: \S", output)


SCENARIO = """
name: load-on-ray
troubleshooting: healthy
timers: {t1: 20ms}
registrars:
  - name: pbx
    listen: [{transport: udp, port: 45873}]
    users: {alice: secret}
client:
  transport: udp
  registrar: sip:${pbx}:45873
  user: alice
  password: secret
steps: [register]
"""


@pytest_twisted.ensureDeferred
async def test_scenario_step_on_the_cluster_sources_from_each_nodes_address(cluster):
    world = World(parse(SCENARIO, "load-on-ray.yaml"), reactor)
    world.start()
    try:
        outcome = await load_step(world, {"endpoints": 4, "count": 20,
                                          "cluster": cluster.address})
    finally:
        await world.stop()
    assert outcome.ok, outcome.summary
    assert outcome.load["succeeded"] == 20 and outcome.load["workers"] == 2
    bindings = world.registrars["pbx"].location.bindings
    sources = {b.source[0] for aor in bindings.values() for b in aor}
    assert sources == set(NODES)


def test_a_lost_node_is_reported_and_the_run_still_ends(cluster, registrar):
    # The last test of the module: it takes the second node away for good.
    (second,) = cluster.worker_nodes
    removed = []

    def remove_the_second_node(progress):
        if progress.attempted >= 20 and not removed:
            removed.append(progress.attempted)
            cluster.remove_node(second, allow_graceful=False)

    begun = time.monotonic()
    run = run_workers(config(registrar, count=400, rate=100),
                      WorkerPlan(cluster=cluster.address), progress=remove_the_second_node,
                      progress_interval=0.2)
    assert removed and [lost.index for lost in run.lost] == [1]
    assert run.parts[0].succeeded == 200 and run.result.attempted == 400
    assert run.result.unfinished > 0 and run.result.check() == []
    assert time.monotonic() - begun < 60
