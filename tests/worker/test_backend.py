"""The Keras backend adapter: device description and the compiled function."""

import keras
import numpy as np

from worker.backend import compile_fn, describe_device, prepare_process, tensor


def test_describe_device() -> None:
    assert describe_device() == "CPU" or describe_device().startswith("GPU")


def test_compiled_function_computes_what_the_plain_one_does() -> None:
    prepare_process()

    def double_sum(x: object) -> object:
        return keras.ops.sum(keras.ops.multiply(x, 2.0))

    x = tensor(np.arange(5, dtype=np.float32), "float32")
    compiled = compile_fn(double_sum)
    assert float(keras.ops.convert_to_numpy(compiled(x))) == 20.0
