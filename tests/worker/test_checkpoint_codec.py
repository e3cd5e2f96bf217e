"""The member checkpoint: self-contained, compact, checked on reading, and resuming bit for bit."""

import io
import json
import zlib
from typing import Any

import numpy as np
import pytest

from tests.worker.fused import STEPS, config, train
from worker import checkpoint_codec, engine
from worker.checkpoint_codec import MemberArrays, ResumeState, decode_checkpoint, encode_checkpoint
from worker.datasets import Dataset
from worker.engine import train_members
from worker.members import EpochReport, MemberConfig, MemberState, TrainingError
from worker.network import initial_weights

pytestmark = pytest.mark.usefixtures("one_stack")


def _curve(reports: list[EpochReport]) -> list[dict[str, Any]]:
    return [r.metrics.model_dump(exclude={"seconds"}) for r in reports]


def test_resume_from_a_checkpoint_continues_bit_for_bit(synthetic: Dataset) -> None:
    names = ["plateau", "cyclic", "step-sgd"]
    straight = train([config(n) for n in names], synthetic)
    checkpoints: dict[str, bytes] = {}

    def stop_after_two(report: EpochReport) -> bool:
        checkpoints[report.key] = report.checkpoint
        return report.metrics.epoch < 2

    train_members([config(n) for n in names], synthetic, on_epoch=stop_after_two)
    # Fresh schedule objects, as a new process would build them; all state comes from the blob.
    resumed = train([config(n, resume=checkpoints[n]) for n in names], synthetic)
    for name in names:
        assert [r.metrics.epoch for r in resumed[name]] == [3, 4]
        assert _curve(resumed[name]) == _curve(straight[name][2:])
        assert resumed[name][0].checkpoint == straight[name][2].checkpoint
        # Never after the last epoch: the finished run's checkpoint would be deleted at once.
        assert straight[name][-1].checkpoint == b""


def test_checkpoint_is_self_contained_and_compact(synthetic: Dataset) -> None:
    reports = train([config("plateau"), config("step-sgd")], synthetic)
    blob = reports["plateau"][1].checkpoint
    meta, arrays = checkpoint_codec._read(blob)
    assert arrays["kernel1"].dtype == np.float32 and arrays["kernel1"].shape == (784, 128)
    assert {"m_kernel1", "v_kernel1"} <= set(arrays)
    assert meta["epoch"] == 2 and meta["optimizer"] == "adam"
    assert meta["iterations"] == 2 * STEPS
    assert meta["schedule"]["epochs_completed"] == 2
    assert meta["rng"]["bit_generator"] == "PCG64"
    # Weights + Adam's two slots in float32 are 1.22 MB raw; byte-shuffled and deflated, less.
    assert len(blob) < 1.15e6
    assert len(reports["step-sgd"][1].checkpoint) < 0.8e6


def test_version_1_checkpoints_are_still_read(synthetic: Dataset) -> None:
    blob = train([config("plateau")], synthetic)["plateau"][1].checkpoint
    meta, arrays = checkpoint_codec._read(blob)
    meta["version"] = 1
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)
    old, new = (decode_checkpoint(config("plateau"), b, 784) for b in (buffer.getvalue(), blob))
    assert old.epochs_done == new.epochs_done == 2
    for got, want in zip(old.params + old.m + old.v, new.params + new.m + new.v, strict=True):
        np.testing.assert_array_equal(got, want)


def _arrays(
    params: list[np.ndarray], slots: list[list[np.ndarray]], iterations: float
) -> MemberArrays:
    return MemberArrays(
        params=params,
        slots=slots,
        iterations=np.array([iterations], np.float32),
        u_product=np.ones(1, np.float32),
    )


def test_version_2_checkpoints_of_the_seed_mlp_resume(synthetic: Dataset) -> None:
    """A checkpoint written before model families (no model, no u_product) resumes as today."""
    names = ["plateau", "step-sgd"]
    straight = train([config(n) for n in names], synthetic)
    old: dict[str, bytes] = {}
    for name in names:
        meta, arrays = checkpoint_codec._read(straight[name][1].checkpoint)
        for key in ("model", "u_product"):
            del meta[key]
        meta["version"] = 2
        blobs: dict[str, Any] = {k: checkpoint_codec._shuffle(a) for k, a in arrays.items()}
        blobs["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, **blobs)
        old[name] = checkpoint_codec._MAGIC + zlib.compress(buffer.getvalue(), 1)
    resumed = train([config(n, resume=old[n]) for n in names], synthetic)
    for name in names:
        assert _curve(resumed[name]) == _curve(straight[name][2:])


def test_decode_returns_what_encode_stored() -> None:
    cfg = config("step-sgd")
    member = MemberState(config=cfg, rng=np.random.default_rng(5), epochs_done=3)
    rng_state = member.rng.bit_generator.state
    params = initial_weights(seed=1)
    m_slots = [np.full_like(p, 0.5) for p in params]
    v_slots = [np.full_like(p, 0.25) for p in params]
    blob = encode_checkpoint(member, _arrays(params, [m_slots, v_slots], 75.0))
    saved = decode_checkpoint(cfg, blob, 784)
    assert saved.epochs_done == 3 and saved.iterations == 75
    assert saved.rng == rng_state
    assert saved.schedule == cfg.schedule.state_dict()
    for got, want in zip(saved.params + saved.m, params + m_slots, strict=True):
        np.testing.assert_array_equal(got, want)
    # SGD stores no v slot: it reads back as zeros.
    assert all(not v.any() for v in saved.v)


@pytest.mark.parametrize(
    ("blob", "message"),
    [(b"not an npz", "unreadable checkpoint"), (None, "after epoch 5; the run has 4")],
)
def test_bad_checkpoints_are_refused(blob: bytes | None, message: str) -> None:
    cfg = config("plateau")
    if blob is None:
        member = MemberState(config=cfg, rng=np.random.default_rng(0), epochs_done=5)
        weights = initial_weights(seed=0)
        blob = encode_checkpoint(member, _arrays(weights, [weights, weights], 0.0))
    with pytest.raises(TrainingError, match=message):
        decode_checkpoint(cfg, blob, 784)


def test_checkpoint_of_another_optimizer_is_refused(synthetic: Dataset) -> None:
    blob = train([config("plateau")], synthetic)["plateau"][0].checkpoint
    with pytest.raises(TrainingError, match="optimizer"):
        train([config("step-sgd", resume=blob)], synthetic)


def test_a_resumed_members_checkpoint_is_read_once(
    synthetic: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = train([config("plateau"), config("cyclic")], synthetic)
    reads: list[str] = []

    def counting(cfg: MemberConfig, blob: bytes, features: int) -> ResumeState:
        reads.append(cfg.key)
        return decode_checkpoint(cfg, blob, features)

    monkeypatch.setattr(engine, "decode_checkpoint", counting)
    resumed = [config(n, resume=first[n][1].checkpoint) for n in ("plateau", "cyclic")]
    train(resumed, synthetic)
    assert sorted(reads) == ["cyclic", "plateau"]
