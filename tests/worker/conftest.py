"""Fixtures of the worker tests: the synthetic dataset and an explicit stack width."""

from collections.abc import Callable

import pytest

from models.storage import get_settings
from tests.worker.fused import synthetic_dataset
from worker.datasets import Dataset


@pytest.fixture(scope="module")
def synthetic() -> Dataset:
    return synthetic_dataset()


@pytest.fixture
def stack_width(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Set the members per stack (LRLAB_MAX_STACK) for the rest of the test."""

    # On the cached settings: the process read LRLAB_MAX_STACK once, so setting it now is moot.
    def set_width(width: int) -> None:
        monkeypatch.setattr(get_settings(), "max_stack", width)

    return set_width


@pytest.fixture
def one_stack(stack_width: Callable[[int], None]) -> None:
    # The CPU default splits stacks above 4 members; the tests choose their stacks explicitly.
    stack_width(8)
