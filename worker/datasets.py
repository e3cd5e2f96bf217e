"""Dataset loading for the worker: numpy and stdlib only, so importing it never loads TensorFlow."""

from __future__ import annotations

import gzip
import hashlib
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Source = Literal["npz", "idx", "keras"]
U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

_IDX_IMAGES_MAGIC = 2051
_IDX_LABELS_MAGIC = 2049


class DatasetError(Exception):
    """The dataset is missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class DatasetInfo:
    """Where the data came from and what part of it is used."""

    name: str
    source: Source
    path: str | None
    train_samples_requested: int
    train_samples: int
    val_samples: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable copy."""
        return {
            "name": self.name,
            "source": self.source,
            "path": self.path,
            "train_samples_requested": self.train_samples_requested,
            "train_samples": self.train_samples,
            "val_samples": self.val_samples,
            "sha256": self.sha256,
        }


# eq=False: numpy arrays have no boolean equality, and identity is what callers need.
@dataclass(frozen=True, eq=False)
class Dataset:
    """Preprocessed arrays: x as float32 (n, features) in [0, 1], y as int64 class ids."""

    x_train: F32
    y_train: I64
    x_val: F32
    y_val: I64
    info: DatasetInfo


@dataclass(frozen=True)
class _Raw:
    """The four uint8 arrays of a dataset as stored: images (n, h, w), labels (n,)."""

    x_train: U8
    y_train: U8
    x_test: U8
    y_test: U8


@dataclass(frozen=True)
class RegisteredDataset:
    """How to find and check one named dataset; one entry per name in the registry."""

    name: str
    env_var: str
    image_shape: tuple[int, int]
    num_classes: int
    npz_name: str
    idx_files: tuple[str, str, str, str]  # train images, train labels, test images, test labels
    keras_loader: Callable[[], tuple[tuple[Any, Any], tuple[Any, Any]]]


def _keras_mnist() -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    # Imported here only: keras pulls in TensorFlow, which this module must not load eagerly.
    import keras

    return keras.datasets.mnist.load_data()  # type: ignore[no-any-return]


def _keras_fashion_mnist() -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    import keras

    return keras.datasets.fashion_mnist.load_data()  # type: ignore[no-any-return]


# Where Debian's `dataset-fashion-mnist` package puts the IDX files.
DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"

_STANDARD_IDX = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

_REGISTRY: dict[str, RegisteredDataset] = {
    "mnist": RegisteredDataset(
        name="mnist",
        env_var="LRLAB_MNIST_PATH",
        image_shape=(28, 28),
        num_classes=10,
        npz_name="mnist.npz",
        idx_files=_STANDARD_IDX,
        keras_loader=_keras_mnist,
    ),
    "fashion_mnist": RegisteredDataset(
        name="fashion_mnist",
        env_var="LRLAB_FASHION_MNIST_PATH",
        image_shape=(28, 28),
        num_classes=10,
        npz_name="fashion_mnist.npz",
        idx_files=_STANDARD_IDX,
        keras_loader=_keras_fashion_mnist,
    ),
}


def dataset_names() -> list[str]:
    """Return the names load_dataset accepts."""
    return sorted(_REGISTRY)


def load_dataset(
    name: str,
    *,
    train_samples: int,
    mnist_path: str | None,
    fashion_mnist_path: str | None = None,
) -> Dataset:
    """Load, check and preprocess a dataset; the first `train_samples` (capped) train.

    Fashion-MNIST without a path reads Debian's package folder when it exists, else downloads
    once through keras.datasets, as MNIST does.
    """
    spec = _REGISTRY.get(name)
    if spec is None:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(dataset_names())}")
    if train_samples < 1:
        raise DatasetError(f"train_samples must be >= 1, got {train_samples}")
    # Each dataset takes its path from its own setting.
    path = mnist_path if spec.name == "mnist" else fashion_mnist_path
    if spec.name == "fashion_mnist" and not path and Path(DEBIAN_FASHION_MNIST).is_dir():
        path = DEBIAN_FASHION_MNIST
    if path:
        source, files_key = _resolve(spec, path)
        return _prepare(spec.name, source, str(Path(path).resolve()), files_key, train_samples)
    return _prepare(spec.name, "keras", None, (), train_samples)


def clear_cache() -> None:
    """Forget every dataset loaded by this process."""
    _prepare.cache_clear()
    _load_full.cache_clear()


def _err(spec: RegisteredDataset, what: str, file: Path | str | None) -> DatasetError:
    where = f" ({file})" if file is not None else ""
    return DatasetError(f"{spec.name}: {what}{where}; check {spec.env_var}")


FilesKey = tuple[tuple[str, int, int], ...]


def _stamp(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_mtime_ns, st.st_size)


def _resolve(spec: RegisteredDataset, path: str) -> tuple[Source, FilesKey]:
    """Find the files behind a path; the key (path, mtime, size) invalidates the cache on change."""
    p = Path(path)
    if p.is_file():
        return "npz", (_stamp(p),)
    if not p.is_dir():
        raise _err(spec, "no such file or folder", p)
    files: list[Path] = []
    missing: list[str] = []
    for stem in spec.idx_files:
        found = next((p / n for n in (stem + ".gz", stem) if (p / n).is_file()), None)
        if found is None:
            missing.append(stem + "[.gz]")
        else:
            files.append(found)
    if not missing:
        return "idx", tuple(_stamp(f) for f in files)
    if len(missing) == len(spec.idx_files) and (p / spec.npz_name).is_file():
        return "npz", (_stamp(p / spec.npz_name),)
    raise _err(spec, f"missing {', '.join(missing)}", p)


@lru_cache(maxsize=16)
def _prepare(
    name: str, source: Source, path: str | None, files_key: FilesKey, train_samples: int
) -> Dataset:
    x_all, y_all, x_val, y_val = _load_full(name, source, files_key)
    n = min(train_samples, len(y_all))
    # Views of the cached read-only arrays: a sweep over train_samples shares one copy.
    x_train, y_train = x_all[:n], y_all[:n]
    digest = hashlib.sha256()
    for arr in (x_train, y_train, x_val, y_val):
        # Shape and dtype are hashed too, so a reshaped or recast array never collides.
        digest.update(f"{arr.dtype.str}{arr.shape}".encode())
        digest.update(np.ascontiguousarray(arr).data)
    info = DatasetInfo(
        name=name,
        source=source,
        path=path,
        train_samples_requested=train_samples,
        train_samples=n,
        val_samples=len(y_val),
        sha256=digest.hexdigest(),
    )
    return Dataset(x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val, info=info)


@lru_cache(maxsize=2)
def _load_full(name: str, source: Source, files_key: FilesKey) -> tuple[F32, I64, F32, I64]:
    spec = _REGISTRY[name]
    if source == "npz":
        file = Path(files_key[0][0])
        raw = _read_npz(spec, file)
        _check(spec, raw, str(file), str(file))
    elif source == "idx":
        xs, ys, xt, yt = (Path(f[0]) for f in files_key)
        raw = _Raw(
            x_train=_read_idx(spec, xs, _IDX_IMAGES_MAGIC),
            y_train=_read_idx(spec, ys, _IDX_LABELS_MAGIC),
            x_test=_read_idx(spec, xt, _IDX_IMAGES_MAGIC),
            y_test=_read_idx(spec, yt, _IDX_LABELS_MAGIC),
        )
        _check(spec, raw, f"{xs}, {ys}", f"{xt}, {yt}")
    else:
        raw = _read_keras(spec)
        _check(spec, raw, "keras.datasets", "keras.datasets")
    arrays = (
        _to_float(raw.x_train),
        raw.y_train.astype(np.int64),
        _to_float(raw.x_test),
        raw.y_test.astype(np.int64),
    )
    for arr in arrays:
        arr.setflags(write=False)  # shared by every experiment of this process
    return arrays


def _to_float(images: U8) -> F32:
    flat = images.reshape(len(images), -1).astype(np.float32)
    flat /= np.float32(255.0)
    return flat


def _read_keras(spec: RegisteredDataset) -> _Raw:
    try:
        (x_train, y_train), (x_test, y_test) = spec.keras_loader()
    except Exception as exc:
        raise DatasetError(
            f"{spec.name}: {spec.env_var} is not set and keras.datasets could not load the data "
            f"({type(exc).__name__}: {exc}); set {spec.env_var} to an npz file or IDX folder"
        ) from exc
    return _Raw(*(_as_uint8(spec, a, "keras.datasets") for a in (x_train, y_train, x_test, y_test)))


def _as_uint8(spec: RegisteredDataset, arr: Any, file: Path | str) -> U8:
    a = np.asarray(arr)
    if a.dtype == np.uint8:
        return a
    if not np.issubdtype(a.dtype, np.integer) or (a.size and (a.min() < 0 or a.max() > 255)):
        raise _err(spec, f"expected uint8 data, got {a.dtype}", file)
    return a.astype(np.uint8)


def _read_npz(spec: RegisteredDataset, path: Path) -> _Raw:
    keys = ("x_train", "y_train", "x_test", "y_test")
    try:
        with np.load(path, allow_pickle=False) as npz:
            absent = [k for k in keys if k not in npz.files]
            if absent:
                raise _err(spec, f"npz lacks {', '.join(absent)}", path)
            arrays = [_as_uint8(spec, npz[k], path) for k in keys]
    except DatasetError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise _err(spec, f"unreadable npz ({type(exc).__name__}: {exc})", path) from exc
    h, w = spec.image_shape
    for i in (0, 2):
        if arrays[i].ndim == 2 and arrays[i].shape[1] == h * w:
            arrays[i] = arrays[i].reshape(-1, h, w)
    return _Raw(*arrays)


def _read_idx(spec: RegisteredDataset, path: Path, magic: int) -> U8:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                data = fh.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise _err(spec, f"unreadable file ({type(exc).__name__}: {exc})", path) from exc
    if len(data) < 4:
        raise _err(spec, "truncated IDX header", path)
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise _err(spec, f"bad IDX magic {found}, expected {magic}", path)
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise _err(spec, "truncated IDX header", path)
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "has trailing bytes"
        raise _err(spec, f"IDX file {state}: {len(data)} bytes for dims {dims}", path)
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _check(spec: RegisteredDataset, raw: _Raw, train_file: str, test_file: str) -> None:
    splits = (
        ("train", raw.x_train, raw.y_train, train_file),
        ("test", raw.x_test, raw.y_test, test_file),
    )
    for split, x, y, file in splits:
        if x.ndim != 3 or x.shape[1:] != spec.image_shape:
            want = (-1, *spec.image_shape)
            raise _err(spec, f"{split} images have shape {x.shape}, expected {want}", file)
        if y.ndim != 1:
            raise _err(spec, f"{split} labels have shape {y.shape}, expected (n,)", file)
        if len(x) != len(y):
            raise _err(spec, f"{split} has {len(x)} images but {len(y)} labels", file)
        if len(y) == 0:
            raise _err(spec, f"{split} split is empty", file)
        top = int(y.max())
        if top >= spec.num_classes:
            raise _err(spec, f"{split} label {top} outside 0..{spec.num_classes - 1}", file)
