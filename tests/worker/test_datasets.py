"""The MNIST loader on tiny generated npz and IDX files, good and corrupt."""

import dataclasses
import gzip
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from worker import datasets
from worker.datasets import DatasetError, clear_cache, load_dataset

N_TRAIN, N_TEST = 50, 20
IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


def _arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, N_TRAIN, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, N_TEST, dtype=np.uint8),
    }


def _idx_bytes(arr: np.ndarray) -> bytes:
    magic = 2051 if arr.ndim == 3 else 2049
    return struct.pack(f">I{arr.ndim}I", magic, *arr.shape) + arr.tobytes()


def _write_idx(folder: Path, arrays: dict[str, np.ndarray], *, gz: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    keys = ("x_train", "y_train", "x_test", "y_test")
    for name, key in zip(IDX_NAMES, keys, strict=True):
        payload = _idx_bytes(arrays[key])
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(payload))
        else:
            (folder / name).write_bytes(payload)
    return folder


def _write_npz(path: Path, arrays: dict[str, Any]) -> Path:
    np.savez(path, **arrays)
    return path


def _load(path: Path, train_samples: int = 1000) -> datasets.Dataset:
    return load_dataset("mnist", train_samples=train_samples, mnist_path=str(path))


def _assert_matches(ds: datasets.Dataset, arrays: dict[str, np.ndarray]) -> None:
    assert ds.x_train.dtype == np.float32 and ds.x_train.shape == (N_TRAIN, 784)
    assert ds.x_val.shape == (N_TEST, 784)
    assert ds.x_train.min() >= 0.0 and ds.x_train.max() <= 1.0
    np.testing.assert_allclose(ds.x_train * 255, arrays["x_train"].reshape(N_TRAIN, -1), atol=1e-3)
    np.testing.assert_array_equal(ds.y_train, arrays["y_train"])
    np.testing.assert_array_equal(ds.y_val, arrays["y_test"])


def test_npz_file(tmp_path: Path) -> None:
    arrays = _arrays()
    ds = _load(_write_npz(tmp_path / "mnist.npz", arrays))
    _assert_matches(ds, arrays)
    assert ds.info.source == "npz"
    assert ds.info.path == str((tmp_path / "mnist.npz").resolve())


def test_folder_holding_mnist_npz(tmp_path: Path) -> None:
    _write_npz(tmp_path / "mnist.npz", _arrays())
    assert _load(tmp_path).info.source == "npz"


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "plain"])
def test_idx_folder(tmp_path: Path, gz: bool) -> None:
    arrays = _arrays()
    ds = _load(_write_idx(tmp_path / "idx", arrays, gz=gz))
    _assert_matches(ds, arrays)
    assert ds.info.source == "idx"


def test_same_content_same_hash_whatever_the_format(tmp_path: Path) -> None:
    arrays = _arrays()
    a = _load(_write_npz(tmp_path / "mnist.npz", arrays))
    b = _load(_write_idx(tmp_path / "gz", arrays, gz=True))
    c = _load(_write_idx(tmp_path / "plain", arrays, gz=False))
    assert a.info.sha256 == b.info.sha256 == c.info.sha256


def test_sha256_is_stable_across_loads_and_tracks_the_subset(tmp_path: Path) -> None:
    path = _write_idx(tmp_path, _arrays(), gz=True)
    first = _load(path, 30).info.sha256
    clear_cache()
    assert _load(path, 30).info.sha256 == first
    assert _load(path, 31).info.sha256 != first
    assert len(first) == 64


def test_train_subset_is_the_first_samples_and_the_cap_is_recorded(tmp_path: Path) -> None:
    arrays = _arrays()
    path = _write_idx(tmp_path, arrays, gz=True)
    small = _load(path, 10)
    np.testing.assert_array_equal(small.y_train, arrays["y_train"][:10])
    assert small.info.train_samples == small.info.train_samples_requested == 10
    assert len(small.y_val) == small.info.val_samples == N_TEST
    capped = _load(path, 10_000)
    assert capped.info.train_samples_requested == 10_000
    assert capped.info.train_samples == N_TRAIN == len(capped.x_train)
    assert json.loads(json.dumps(capped.info.as_dict()))["train_samples"] == N_TRAIN


def test_arrays_are_read_only(tmp_path: Path) -> None:
    ds = _load(_write_idx(tmp_path, _arrays(), gz=True))
    with pytest.raises(ValueError):
        ds.x_train[0, 0] = 1.0


def test_cache_notices_a_changed_file(tmp_path: Path) -> None:
    path = _write_npz(tmp_path / "mnist.npz", _arrays(0))
    before = _load(path)
    assert _load(path) is before  # cached
    stamp = path.stat().st_mtime_ns + 1_000_000_000
    new = _arrays(1)
    _write_npz(path, new)
    # Same size; a coarse file-system clock could leave the mtime unchanged, so move it on.
    os.utime(path, ns=(stamp, stamp))
    _assert_matches(_load(path), new)


def _corrupt_magic(folder: Path) -> str:
    f = folder / "train-images-idx3-ubyte"
    data = bytearray(f.read_bytes())
    data[2:4] = struct.pack(">H", 2049)
    f.write_bytes(bytes(data))
    return f.name


def _truncate(folder: Path) -> str:
    f = folder / "t10k-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-100])
    return f.name


def _count_mismatch(folder: Path) -> str:
    f = folder / "train-labels-idx1-ubyte"
    f.write_bytes(_idx_bytes(np.zeros(N_TRAIN - 1, dtype=np.uint8)))
    return f.name


def _label_out_of_range(folder: Path) -> str:
    f = folder / "t10k-labels-idx1-ubyte"
    f.write_bytes(_idx_bytes(np.full(N_TEST, 10, dtype=np.uint8)))
    return f.name


def _wrong_image_size(folder: Path) -> str:
    f = folder / "train-images-idx3-ubyte"
    f.write_bytes(_idx_bytes(np.zeros((N_TRAIN, 14, 14), dtype=np.uint8)))
    return f.name


def _missing(folder: Path) -> str:
    (folder / "t10k-labels-idx1-ubyte").unlink()
    return "t10k-labels-idx1-ubyte"


def _empty(folder: Path) -> str:
    (folder / "train-labels-idx1-ubyte").write_bytes(b"")
    return "train-labels-idx1-ubyte"


@pytest.mark.parametrize(
    "damage",
    [
        _corrupt_magic,
        _truncate,
        _count_mismatch,
        _label_out_of_range,
        _wrong_image_size,
        _missing,
        _empty,
    ],
)
def test_corrupt_idx_names_the_setting_and_the_file(tmp_path: Path, damage: Any) -> None:
    folder = _write_idx(tmp_path, _arrays(), gz=False)
    file = damage(folder)
    with pytest.raises(DatasetError) as info:
        _load(folder)
    assert "LRLAB_MNIST_PATH" in str(info.value)
    assert file in str(info.value)


def test_bad_gzip(tmp_path: Path) -> None:
    folder = _write_idx(tmp_path, _arrays(), gz=True)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all" * 10)
    with pytest.raises(DatasetError, match=r"LRLAB_MNIST_PATH") as info:
        _load(folder)
    assert "train-images-idx3-ubyte.gz" in str(info.value)


def test_truncated_gzip(tmp_path: Path) -> None:
    folder = _write_idx(tmp_path, _arrays(), gz=True)
    f = folder / "t10k-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:-50])
    with pytest.raises(DatasetError, match="LRLAB_MNIST_PATH") as info:
        _load(folder)
    assert "t10k-images-idx3-ubyte.gz" in str(info.value)


def test_corrupt_npz(tmp_path: Path) -> None:
    bad = tmp_path / "mnist.npz"
    bad.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(DatasetError, match="LRLAB_MNIST_PATH") as info:
        _load(bad)
    assert "mnist.npz" in str(info.value)


def test_npz_missing_a_key(tmp_path: Path) -> None:
    arrays = _arrays()
    del arrays["y_test"]
    with pytest.raises(DatasetError, match=r"y_test.*LRLAB_MNIST_PATH"):
        _load(_write_npz(tmp_path / "mnist.npz", arrays))


def test_npz_with_float_images_is_rejected(tmp_path: Path) -> None:
    arrays: dict[str, Any] = _arrays()
    arrays["x_train"] = arrays["x_train"] / 255.0
    with pytest.raises(DatasetError, match="uint8"):
        _load(_write_npz(tmp_path / "mnist.npz", arrays))


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="LRLAB_MNIST_PATH") as info:
        _load(tmp_path / "nowhere")
    assert "nowhere" in str(info.value)


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.*LRLAB_MNIST_PATH"):
        _load(tmp_path)


def test_unknown_dataset() -> None:
    with pytest.raises(DatasetError, match="unknown dataset 'cifar'"):
        load_dataset("cifar", train_samples=10, mnist_path=None)


def _with_keras_loader(monkeypatch: pytest.MonkeyPatch, loader: Any) -> None:
    spec = dataclasses.replace(datasets._REGISTRY["mnist"], keras_loader=loader)
    monkeypatch.setitem(datasets._REGISTRY, "mnist", spec)


def test_without_a_path_keras_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    a = _arrays()
    _with_keras_loader(
        monkeypatch, lambda: ((a["x_train"], a["y_train"]), (a["x_test"], a["y_test"]))
    )
    ds = load_dataset("mnist", train_samples=5, mnist_path=None)
    assert ds.info.source == "keras" and ds.info.path is None and ds.info.train_samples == 5


def test_keras_download_failure_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline() -> Any:
        raise OSError("no route to host")

    _with_keras_loader(monkeypatch, offline)
    with pytest.raises(DatasetError, match="LRLAB_MNIST_PATH") as info:
        load_dataset("mnist", train_samples=5, mnist_path=None)
    assert "no route to host" in str(info.value)


# The offline MNIST of LRLAB_MNIST_PATH, else the one beside the checkout.
_OFFLINE = Path(
    os.environ.get("LRLAB_MNIST_PATH")
    or Path(__file__).resolve().parents[3] / "shared" / "datasets" / "mnist-offline"
)


@pytest.mark.skipif(
    not _OFFLINE.is_dir(), reason=f"no offline MNIST at {_OFFLINE}: set LRLAB_MNIST_PATH"
)
def test_offline_mnist_class_counts() -> None:
    ds = load_dataset("mnist", train_samples=100_000, mnist_path=str(_OFFLINE))
    assert ds.info.train_samples == 8000 and ds.info.val_samples == 2000
    assert np.bincount(ds.y_val).tolist() == [207, 230, 198, 207, 194, 169, 202, 215, 187, 191]


@pytest.mark.skipif(
    not Path(datasets.DEBIAN_FASHION_MNIST).is_dir(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_fashion_mnist_from_the_debian_package() -> None:
    ds = load_dataset("fashion_mnist", train_samples=1_000_000, mnist_path=None)
    assert ds.info.source == "idx" and ds.info.path == datasets.DEBIAN_FASHION_MNIST
    assert (ds.info.train_samples, ds.info.val_samples) == (60_000, 10_000)
    assert ds.x_train.shape == (60_000, 784) and ds.x_val.shape == (10_000, 784)
    assert ds.x_train.min() >= 0.0 and ds.x_train.max() <= 1.0
    assert sorted(set(ds.y_val.tolist())) == list(range(10))
    assert len(ds.info.sha256) == 64
    mnist_like = load_dataset(
        "fashion_mnist",
        train_samples=100,
        mnist_path="/nonexistent",
        fashion_mnist_path=datasets.DEBIAN_FASHION_MNIST,
    )
    # The MNIST setting is not Fashion-MNIST's; its own path gives the same data.
    np.testing.assert_array_equal(mnist_like.x_train, ds.x_train[:100])
