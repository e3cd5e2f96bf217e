"""Fixtures of the worker tests: the synthetic dataset and an explicit stack width."""

from collections.abc import Iterator

import pytest

from tests.worker.fused import synthetic_dataset
from worker.datasets import Dataset


@pytest.fixture(scope="module")
def synthetic() -> Dataset:
    return synthetic_dataset()


@pytest.fixture
def one_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The CPU default splits stacks above 4 members; the tests choose their stacks explicitly.
    monkeypatch.setenv("LRLAB_MAX_STACK", "8")
    yield
