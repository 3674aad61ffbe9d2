"""The KubeRay example (deploy/kuberay): a RayCluster that `testbed load --cluster` can use."""

import re
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "kuberay"


def manifest():
    return yaml.safe_load((DEPLOY / "raycluster.yaml").read_text(encoding="utf-8"))


def containers(group):
    return group["template"]["spec"]["containers"]


def test_manifest_is_a_raycluster_with_a_head_and_load_workers():
    cluster = manifest()
    assert cluster["apiVersion"] == "ray.io/v1" and cluster["kind"] == "RayCluster"
    spec = cluster["spec"]
    head = spec["headGroupSpec"]
    # The head takes no worker: the driver places workers on nodes with CPUs only.
    assert head["rayStartParams"]["num-cpus"] == "0"
    ports = {p["name"]: p["containerPort"] for p in containers(head)[0]["ports"]}
    assert ports == {"gcs": 6379, "client": 10001}  # ray://HOST:10001, HOST:6379
    (group,) = spec["workerGroupSpecs"]
    assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    assert int(group["rayStartParams"]["num-cpus"]) >= 1
    for pod in (head, group):
        for container in containers(pod):
            env = {e["name"]: e["value"] for e in container.get("env", [])}
            assert env.get("RAY_USAGE_STATS_ENABLED") == "0"


def test_every_pod_runs_the_testbed_image_of_the_clusters_ray_version():
    spec = manifest()["spec"]
    version = spec["rayVersion"]
    images = {c["image"] for pod in (spec["headGroupSpec"], *spec["workerGroupSpecs"])
              for c in containers(pod)}
    assert len(images) == 1 and images.pop().endswith(f":{version}")
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    base = re.search(r"^FROM rayproject/ray:(\S+)$", dockerfile, re.MULTILINE)
    assert base and base.group(1).startswith(f"{version}-py3")
    assert re.search(r"^RUN pip install .*sip-transport-testbed$", dockerfile, re.MULTILINE)
