"""The seed network and its initial weights."""

import numpy as np

from worker.network import build_model, initial_weights


def test_initial_weights_are_build_models() -> None:
    for got, want in zip(initial_weights(seed=5), build_model(seed=5).get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
