"""Glue between the range-test ledger and its training loop: claim, heartbeat, progress, finish.

The claim holds a lease that a heartbeat thread renews; progress is recorded about once a
second (which also notices a cancel or a lost claim: fencing by attempt); the curves and the
result are written in one fenced transaction at the end. A test is short, so it keeps no
checkpoint: an attempt that dies is requeued by the reconciler and the next one starts over.
On a warm shutdown a running test finishes rather than being handed back.
"""

import logging
import threading
import time
import uuid

from models.range_tests import (
    RANGE_TEST_JOBS,
    RangeTestClaim,
    SeedCurve,
    claim_range_test,
    fail_range_test,
    finish_range_test,
    record_range_progress,
    summarise_curves,
)
from models.storage import Settings, get_settings, session_scope
from worker.datasets import load_dataset
from worker.leases import heartbeat, with_db_retry
from worker.range_engine import run_range_test

log = logging.getLogger("lrlab.worker")


def claim(
    range_test_id: uuid.UUID, *, token: uuid.UUID, settings: Settings
) -> RangeTestClaim | None:
    """Claim the range test if it waits for a worker, naming the claim `token`."""
    with session_scope() as session:
        return claim_range_test(
            session,
            range_test_id=range_test_id,
            lease_seconds=settings.lease_seconds,
            max_attempts=settings.max_attempts,
            claim_token=token,
        )


def claim_and_run_range_test(range_test_id: uuid.UUID) -> None:
    """Claim the range test and run it to the end, if it is still waiting for a worker."""
    settings = get_settings()
    # Made before the first try: a retry after a lost COMMIT acknowledgement finds its claim.
    token = uuid.uuid4()
    claimed = with_db_retry(
        lambda: claim(range_test_id, token=token, settings=settings), what="claim"
    )
    if claimed is None:
        log.info("range test %s is not waiting for a worker; nothing to do", range_test_id)
        return
    log.info("claimed range test %s#%d", claimed.range_test_id, claimed.attempt)
    stop = threading.Event()
    beat = threading.Thread(
        target=heartbeat,
        args=(lambda: [(claimed.range_test_id, claimed.attempt)],),
        kwargs={"settings": settings, "stop": stop, "kind": RANGE_TEST_JOBS},
        daemon=True,
    )
    beat.start()
    try:
        _run(claimed, settings)
    except Exception as exc:
        log.exception("range test %s failed", claimed.range_test_id)
        error = f"{type(exc).__name__}: {exc}"

        def fail() -> None:
            with session_scope() as session:
                fail_range_test(
                    session,
                    range_test_id=claimed.range_test_id,
                    attempt=claimed.attempt,
                    error=error,
                )

        with_db_retry(fail, what="fail")
    finally:
        stop.set()
        beat.join(timeout=max(1.0, settings.lease_seconds / 2))


def _run(claimed: RangeTestClaim, settings: Settings) -> None:
    spec = claimed.spec
    data = load_dataset(
        spec.dataset.name,
        train_samples=spec.dataset.train_samples,
        mnist_path=settings.mnist_path,
        fashion_mnist_path=settings.fashion_mnist_path,
    )

    def progress(done: int, dataset: dict[str, object] | None = None) -> bool:
        def write() -> bool:
            with session_scope() as session:
                return record_range_progress(
                    session,
                    range_test_id=claimed.range_test_id,
                    attempt=claimed.attempt,
                    iterations_done=done,
                    lease_seconds=settings.lease_seconds,
                    dataset=dataset,
                )

        return with_db_retry(write, what="range test progress")

    if not progress(0, data.info.as_dict()):
        log.info("range test %s was cancelled before it started", claimed.range_test_id)
        return
    seeds = spec.seed_list
    started = time.perf_counter()
    trackers = run_range_test(
        data,
        seeds=seeds,
        batch_size=spec.training.batch_size,
        optimizer=spec.training.optimizer,
        momentum=spec.training.momentum,
        model=spec.model,
        options=spec.training.optimizer_given(),
        start_lr=spec.start_lr,
        end_lr=spec.end_lr,
        num_iter=spec.num_iter,
        stop_div=spec.stop_div,
        on_progress=progress,
    )
    seconds = time.perf_counter() - started
    if trackers is None:
        log.info(
            "range test %s stopped: cancelled, or another attempt owns it", claimed.range_test_id
        )
        return
    curves = [
        SeedCurve(
            seed=seed,
            lrs=t.lrs.tolist(),
            losses=t.losses.tolist(),
            smoothed_losses=t.smoothed_losses.tolist(),
        )
        for seed, t in zip(seeds, trackers, strict=True)
    ]
    result = summarise_curves(
        seeds=seeds,
        lrs=[c.lrs for c in curves],
        smoothed=[c.smoothed_losses for c in curves],
        num_iter=spec.num_iter,
        train_seconds=seconds,
    )

    def finish() -> bool:
        with session_scope() as session:
            return finish_range_test(
                session,
                range_test_id=claimed.range_test_id,
                attempt=claimed.attempt,
                curves=curves,
                result=result,
            )

    if with_db_retry(finish, what="finish"):
        log.info("range test %s succeeded in %.2f s", claimed.range_test_id, seconds)
