"""Where Ray workers run (WorkerPlan, cluster addresses) and what a lost worker leaves."""

import pytest

from testbed.load import (
    ClusterError,
    LatencyHistogram,
    LoadConfig,
    LoadInterval,
    Progress,
    WorkerPlan,
    cluster_endpoint,
)
from testbed.load._plan import auto_address, lost_result


@pytest.mark.parametrize(("address", "endpoint"), [
    ("auto", None),
    ("ray://head", ("head", 10001)),
    ("ray://head.example.com:20001", ("head.example.com", 20001)),
    ("127.0.0.2:6379", ("127.0.0.2", 6379)),
    ("[::1]:6379", ("::1", 6379)),
    ("ray://[fd00::5]", ("fd00::5", 10001)),
])
def test_cluster_addresses(address, endpoint):
    assert cluster_endpoint(address) == endpoint


@pytest.mark.parametrize("address", ["head", "http://head:1", "ray://", "head:99999", "a b:1",
                                     ""])
def test_bad_cluster_addresses_are_one_line(address):
    with pytest.raises(ValueError, match="cluster address"):
        cluster_endpoint(address)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"workers": 0}, "workers must be at least 1"),
    ({"cluster": "auto", "workers_per_node": 0}, "per node"),
    ({"cluster": "head"}, "cluster address"),
])
def test_plan_mistakes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WorkerPlan(**kwargs)


def test_plan_is_local_without_a_cluster():
    assert WorkerPlan(workers=3).local and not WorkerPlan(cluster="auto").local


def test_auto_reads_ray_address_then_the_machines_cluster(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(ClusterError, match="no Ray cluster on this machine"):
        auto_address(str(tmp_path))
    (tmp_path / "ray_current_cluster").write_text("127.0.0.9:6379\n")
    assert auto_address(str(tmp_path)) == "127.0.0.9:6379"
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    assert auto_address(str(tmp_path)) == "ray://head:10001"


def whole(**changes):
    values = {"registrar": "sip:example.com", "endpoints": 10, "count": 100, "rate": 50.0}
    return LoadConfig(**{**values, **changes})


def test_a_lost_slice_with_a_count_is_its_whole_count_unfinished():
    part = whole().slice(1, 2)
    result = lost_result(part, 1, Progress(1.5, 12, 10, 1, 1), "The actor died")
    assert (result.attempted, result.unfinished, result.succeeded, result.failed) == (
        50, 50, 0, 0)
    assert result.check() == [] and result.elapsed == 1.5 and result.endpoints == 5
    assert result.notes == ["worker 1 (alice5..alice9) lost: The actor died; 50 of its 50 "
                            "operations are counted as unfinished"]


def test_what_a_lost_worker_reported_in_whole_intervals_is_kept():
    reported = LoadInterval(0, 0.0, 1.0, attempted=12, succeeded=9, failed=1, unfinished=0)
    reported.errors["timeout"] = 1
    reported.statuses[200] = 9
    reported.latencies["UDP"] = LatencyHistogram.of([0.01] * 9)
    result = lost_result(whole().slice(0, 2), 0, Progress(1.4, 15, 11, 1, 3), "gone",
                         [reported])
    assert (result.attempted, result.succeeded, result.failed, result.unfinished) == (
        50, 9, 1, 40)
    assert [i.index for i in result.intervals] == [0, 1] and result.check() == []
    assert result.intervals[1].attempted == 38 and result.elapsed == 1.4


def test_a_lost_slice_with_a_duration_is_what_it_had_started():
    part = whole(count=None, duration=10.0).slice(0, 2)
    assert lost_result(part, 0, Progress(2.0, 33, 30, 0, 3), "gone").unfinished == 33
    assert lost_result(part, 0, None, "gone").attempted == 0
