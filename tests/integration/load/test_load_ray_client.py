"""``testbed load --cluster ray://HOST:PORT``: through Ray Client to a two-node cluster on
loopback (a cluster of its own: Ray Client's per-client servers start apart from the
drivers of test_load_ray.py)."""

import json
import os
import socket
import subprocess
import sys

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine

from ray.cluster_utils import Cluster  # noqa: E402

NODES = ("127.0.0.2", "127.0.0.3")


def free_port(host):
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def client_address():
    port = free_port(NODES[0])
    nodes = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "node_ip_address": NODES[0], "include_dashboard": False,
        "ray_client_server_port": port})
    nodes.add_node(num_cpus=1, node_ip_address=NODES[1])
    nodes.wait_for_nodes()
    yield f"ray://{NODES[0]}:{port}"
    nodes.shutdown()


def test_command_line_through_ray_client(client_address, tmp_path):
    out = tmp_path / "load.json"
    completed = subprocess.run(
        [sys.executable, "-m", "testbed.cli", "load", "sip:example.com", "--endpoints", "6",
         "--count", "30", "--password", "pw", "--server-process", "--t1", "100ms",
         "--cluster", client_address, "--json", str(out)],
        capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr + completed.stdout
    assert f"ray: Ray cluster {client_address}: 2 nodes, started in " in completed.stdout
    assert "30 attempted, 30 succeeded, 0 failed" in completed.stdout
    data = json.loads(out.read_text())
    assert [w["address"] for w in data["ray"]["workers"]] == list(NODES)
