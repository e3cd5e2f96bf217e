"""GET /datasets: each dataset's size as the live workers loaded it, else its published size."""

import uuid
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from models.jobs import WorkerInfo, dataset_sizes, publish_heartbeat, withdraw
from models.storage import get_settings, redis_py_url
from models.training import DATASET_TRAIN_SAMPLES
from tests.conftest import wait_for


def _worker(train_samples: int) -> WorkerInfo:
    return WorkerInfo.model_validate(
        {
            "name": f"sized-{uuid.uuid4().hex[:8]}@test",
            "host": "test",
            "pid": 1,
            "queues": ["nowhere"],
            "device": "CPU",
            "versions": {"python": "3"},
            "current_experiments": [],
            "datasets": {"mnist": {"train_samples": train_samples, "val_samples": 17}},
            "started_at": "2026-01-01T00:00:00Z",
            "last_heartbeat": "2026-01-01T00:00:00Z",
        }
    )


@pytest.fixture
def small_worker() -> Iterator[WorkerInfo]:
    """A live worker whose MNIST copy is smaller than any real one."""
    client = redis.Redis.from_url(redis_py_url(get_settings().broker_url))
    info = _worker(123)
    publish_heartbeat(client, info)
    try:
        yield info
    finally:
        withdraw(client, info.name)
        client.close()


def test_the_smallest_copy_a_live_worker_loaded_is_the_size(
    client: TestClient, small_worker: WorkerInfo
) -> None:
    def mnist() -> dict[str, object] | None:
        response = client.get("/datasets")
        assert response.status_code == 200, response.text
        row: dict[str, object] = next(d for d in response.json() if d["name"] == "mnist")
        return row if row["train_samples"] == 123 else None

    # The API reuses a listing of workers for up to a second.
    row = wait_for(mnist, timeout=10)
    assert row == {"name": "mnist", "train_samples": 123, "val_samples": 17, "source": "workers"}


def test_without_a_live_worker_the_published_size() -> None:
    sizes = {d.name: d for d in dataset_sizes([])}
    assert sizes["mnist"].train_samples == DATASET_TRAIN_SAMPLES["mnist"]
    assert sizes["mnist"].source == "published"
    two = dataset_sizes([_worker(8000), _worker(500)])
    assert [(d.train_samples, d.source) for d in two if d.name == "mnist"] == [(500, "workers")]
