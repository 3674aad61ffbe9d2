"""Connecting to a Ray cluster: through Ray Client, one more attempt when its server
could not start ours (Ray's own ``ray.init`` is replaced here: no cluster is started)."""

import pytest

from testbed.load import _ray_actors


class FakeInit:
    """``ray.init`` failing the way Ray Client does a given number of times."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[str] = []
        self.shutdowns = 0

    def init(self, address: str, **options: object) -> None:
        self.calls.append(address)
        if len(self.calls) <= self.failures:
            raise ConnectionAbortedError("Initialization failure from server:\n")

    def shutdown(self) -> None:
        self.shutdowns += 1


@pytest.fixture
def fake(monkeypatch):
    def install(failures: int) -> FakeInit:
        fake = FakeInit(failures)
        monkeypatch.setattr(_ray_actors.ray, "init", fake.init)
        monkeypatch.setattr(_ray_actors.ray, "shutdown", fake.shutdown)
        return fake

    return install


def test_ray_client_is_tried_once_more_after_its_server_failed_to_start(fake):
    ray = fake(1)
    _ray_actors._connect("ray://127.0.0.2:10001", {})
    assert ray.calls == ["ray://127.0.0.2:10001"] * 2 and ray.shutdowns == 1


def test_ray_client_gives_up_after_its_attempts(fake):
    ray = fake(_ray_actors.CLIENT_ATTEMPTS)
    with pytest.raises(ConnectionAbortedError):
        _ray_actors._connect("ray://127.0.0.2:10001", {})
    assert len(ray.calls) == _ray_actors.CLIENT_ATTEMPTS


def test_a_cluster_joined_directly_is_tried_once(fake):
    ray = fake(1)
    with pytest.raises(ConnectionAbortedError):
        _ray_actors._connect("127.0.0.2:6379", {})
    assert ray.calls == ["127.0.0.2:6379"] and ray.shutdowns == 0
