"""ASHA pruning through the API and the ledger: bad input, decisions, the log, paired stats."""

import csv
import io
import uuid
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy import stats
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.experiments import finish_experiment, record_epoch
from models.jobs import Position, format_cursor, parse_cursor
from models.sweeps import judge_epoch
from models.tables import Experiment, PruningDecision, Sweep
from tests.factories import claim, epoch_metrics

PRUNED_SWEEP: dict[str, Any] = {
    "name": "pruning test",
    "base": {"training": {"epochs": 4, "batch_size": 64}, "dataset": {"train_samples": 512}},
    "schedulers": [{"type": "constant"}],
    "seeds": [0, 1, 2, 3],
    "pruning": {"type": "asha", "metric": "val_accuracy", "reduction_factor": 2},
}


@pytest.mark.parametrize(
    ("pruning", "seeds", "named"),
    [
        ({"grace_period": 0}, [0, 1], "grace_period"),
        ({"reduction_factor": 1}, [0, 1], "reduction_factor"),
        ({"max_t": 5}, [0, 1], "pruning.max_t"),
        ({"metric": "val_f1"}, [0, 1], "metric"),
        ({"mode": "up"}, [0, 1], "mode"),
        ({}, [0], "pruning"),
    ],
)
def test_bad_pruning_is_a_422_naming_the_field_and_stores_nothing(
    client: TestClient, db_session: Session, pruning: dict[str, Any], seeds: list[int], named: str
) -> None:
    before = db_session.scalar(select(func.count()).select_from(Sweep))
    body = {**PRUNED_SWEEP, "seeds": seeds, "pruning": {"type": "asha"} | pruning}
    response = client.post("/sweeps", json=body)
    assert response.status_code == 422, response.text
    assert named in response.text
    assert db_session.scalar(select(func.count()).select_from(Sweep)) == before


def _epoch(session: Session, experiment_id: uuid.UUID, epoch: int, value: float) -> bool:
    """Record an epoch and judge it in one transaction, as the worker does; True if pruned."""
    metrics = epoch_metrics(epoch, val_accuracy=value)
    assert record_epoch(
        session, experiment_id=experiment_id, attempt=1, metrics=metrics, lease_seconds=60
    )
    pruned = judge_epoch(session, experiment_id=experiment_id, attempt=1, metrics=metrics)
    session.commit()
    return pruned


def test_rung_epochs_are_judged_pruned_members_end_and_every_decision_is_logged(
    client: TestClient, db_session: Session
) -> None:
    sweep = client.post("/sweeps", json=PRUNED_SWEEP).json()
    ids = [uuid.UUID(i) for i in sweep["experiments"]]
    for experiment_id in ids:
        claim(db_session, experiment_id)
    db_session.commit()
    # rf 2, 4 epochs: rungs at epochs 1 and 2; the cutoff is the median of earlier values.
    assert [
        _epoch(db_session, i, 1, v) for i, v in zip(ids, [0.5, 0.7, 0.6, 0.55], strict=True)
    ] == [
        False,  # first arrival
        False,  # 0.7 >= 0.5
        False,  # 0.6 >= median(0.5, 0.7) = 0.6: a tie continues
        True,  # 0.55 < median(0.5, 0.7, 0.6) = 0.6
    ]
    pruned = db_session.get(Experiment, ids[3])
    assert pruned is not None
    db_session.refresh(pruned)
    assert (pruned.status, pruned.pruned_at_epoch) == ("pruned", 1)
    assert pruned.result is not None and pruned.result["final_val_accuracy"] == 0.55
    # A pruned member records nothing more, and asking again returns the logged decision.
    assert not record_epoch(
        db_session, experiment_id=ids[3], attempt=1, metrics=epoch_metrics(2), lease_seconds=60
    )
    assert judge_epoch(db_session, experiment_id=ids[3], attempt=1, metrics=epoch_metrics(1))
    assert _epoch(db_session, ids[1], 2, 0.8) is False
    assert _epoch(db_session, ids[0], 2, 0.6) is True  # 0.6 < 0.8
    assert _epoch(db_session, ids[2], 3, 0.9) is False  # epoch 3 is no rung... judged at 2
    count = db_session.scalar(select(func.count()).select_from(PruningDecision))
    assert (
        judge_epoch(db_session, experiment_id=ids[2], attempt=1, metrics=epoch_metrics(3)) is False
    )
    assert db_session.scalar(select(func.count()).select_from(PruningDecision)) == count

    read = client.get(f"/sweeps/{sweep['id']}").json()
    assert read["counts"]["pruned"] == 2 and read["counts"]["running"] == 2
    # Pruned at epochs 1 and 2, the two others still running with 4 epochs each.
    assert read["progress"]["epochs"] == 1 + 2 + 4 + 4
    member = client.get(f"/experiments/{ids[3]}").json()
    assert (member["status"], member["pruned_at_epoch"]) == ("pruned", 1)
    listed = client.get("/experiments", params={"status": "pruned"}).json()
    assert {str(ids[0]), str(ids[3])} <= {item["id"] for item in listed["items"]}

    log = client.get(f"/sweeps/{sweep['id']}/pruning").json()
    assert [(d["experiment"], d["rung"], d["epoch"], d["decision"]) for d in log] == [
        (str(ids[0]), 1, 1, "continue"),
        (str(ids[1]), 1, 1, "continue"),
        (str(ids[2]), 1, 1, "continue"),
        (str(ids[3]), 1, 1, "prune"),
        (str(ids[1]), 2, 2, "continue"),
        (str(ids[0]), 2, 2, "prune"),
        (str(ids[2]), 2, 3, "continue"),
    ]
    assert [d["order"] for d in log] == list(range(1, 8))
    assert [d["compared"] for d in log[:4]] == [0, 1, 2, 3]
    assert log[0]["cutoff"] is None
    assert log[3]["cutoff"] == pytest.approx(0.6)
    assert log[3]["seed"] == 3 and log[3]["label"] == "constant"
    rows = list(csv.DictReader(io.StringIO(client.get(
        f"/sweeps/{sweep['id']}/pruning", params={"format": "csv"}).text)))  # fmt: skip
    assert [r["decision"] for r in rows] == [d["decision"] for d in log]
    assert rows[3]["cutoff"] == str(log[3]["cutoff"])
    assert client.get(f"/sweeps/{uuid.uuid4()}/pruning").status_code == 404


def test_a_stream_cursor_carries_the_pruned_status() -> None:
    """A client reconnecting after a pruned status is sent does not get it again."""
    positions = parse_cursor("3p.27s", 2)
    assert positions == [Position(3, "pruned"), Position(27, "succeeded")]
    assert format_cursor(positions) == "3p.27s"


def test_sweeps_without_pruning_judge_nothing(client: TestClient, db_session: Session) -> None:
    body = {key: value for key, value in PRUNED_SWEEP.items() if key != "pruning"}
    sweep = client.post("/sweeps", json=body).json()
    ids = [uuid.UUID(i) for i in sweep["experiments"]]
    for experiment_id in ids:
        claim(db_session, experiment_id)
    db_session.commit()
    assert [
        _epoch(db_session, i, 1, v) for i, v in zip(ids, [0.9, 0.1, 0.1, 0.1], strict=True)
    ] == [False] * 4
    assert client.get(f"/sweeps/{sweep['id']}/pruning").json() == []


def _finish(session: Session, experiment_id: uuid.UUID, final: float) -> None:
    _record_curve(session, experiment_id, [final])


def test_the_comparison_pairs_configurations_by_seed(
    client: TestClient, db_session: Session
) -> None:
    body = {
        "base": {"training": {"epochs": 1, "batch_size": 64}, "dataset": {"train_samples": 512}},
        "schedulers": [
            {"type": "constant"},
            {"type": "exponential", "gamma": 0.5},
            {"type": "exponential", "gamma": 0.9},
        ],
        "seeds": [0, 1, 2, 3, 4],
    }
    sweep = client.post("/sweeps", json=body).json()
    ids = [uuid.UUID(i) for i in sweep["experiments"]]
    constant = [0.90, 0.92, 0.88, 0.91, 0.93]
    slower = [0.85, 0.86, 0.84, 0.87, 0.85]
    alike = [0.899, 0.921, 0.881, 0.909, 0.929]
    for experiment_id, final in zip(ids, constant + slower + alike, strict=True):
        _finish(db_session, experiment_id, final)
    result = client.get(f"/sweeps/{sweep['id']}/comparison").json()
    assert result["baseline"] == "constant"
    rows = {r["label"]: r for r in result["rows"]}
    assert rows["constant"]["paired"] is None
    worse = rows["exponential(gamma=0.5)"]["paired"]
    theirs = stats.ttest_rel(slower, constant)
    assert worse["method"] == "paired" and worse["pairs"] == 5
    assert worse["mean_difference"] == pytest.approx(float(np.mean(np.subtract(slower, constant))))
    assert worse["p_t"] == pytest.approx(float(theirs.pvalue))
    interval = theirs.confidence_interval(0.95)
    assert worse["ci95"] == pytest.approx([float(interval.low), float(interval.high)])
    # Five negative differences: only all-minus and all-plus are as extreme, p = 2/32.
    assert worse["p_sign_flip"] == pytest.approx(2 / 32)
    assert worse["sign_flip_method"] == "exact"
    alike_p = rows["exponential(gamma=0.9)"]["paired"]["p_t"]
    low, high = sorted([worse["p_t"], alike_p])
    assert worse["p_t_holm"] == pytest.approx(min(1.0, 2 * worse["p_t"]) if worse["p_t"] == low
                                              else max(min(1.0, 2 * low), high))  # fmt: skip
    assert worse["verdict"] == "worse"
    assert rows["exponential(gamma=0.9)"]["paired"]["verdict"] == (
        "no detectable difference with 5 seeds"
    )

    by_index = client.get(f"/sweeps/{sweep['id']}/comparison", params={"baseline": "1"}).json()
    assert by_index["baseline"] == "exponential(gamma=0.5)"
    better = {r["label"]: r for r in by_index["rows"]}["constant"]["paired"]
    assert better["verdict"] == "better"
    bad = client.get(f"/sweeps/{sweep['id']}/comparison", params={"baseline": "nope"})
    assert bad.status_code == 422 and "baseline" in bad.text
    header = client.get(f"/sweeps/{sweep['id']}/comparison?format=csv").text.splitlines()[0]
    assert "p_t_holm,p_sign_flip_holm,verdict,target_paired_n,epochs_saved_to_target" in header
    assert header.endswith("target_p_t_holm,target_p_sign_flip_holm,target_verdict")


def _record_curve(session: Session, experiment_id: uuid.UUID, curve: list[float]) -> None:
    claim(session, experiment_id)
    for epoch, accuracy in enumerate(curve, start=1):
        record_epoch(
            session,
            experiment_id=experiment_id,
            attempt=1,
            lease_seconds=60,
            metrics=epoch_metrics(epoch, val_accuracy=accuracy),
        )
    finish_experiment(session, experiment_id=experiment_id, attempt=1)
    session.commit()


def test_with_a_target_the_ranking_metric_is_paired_by_seed_too(
    client: TestClient, db_session: Session
) -> None:
    body = {
        "base": {"training": {"epochs": 6, "batch_size": 64}, "dataset": {"train_samples": 512}},
        "schedulers": [{"type": "constant"}, {"type": "exponential", "gamma": 0.9}],
        "seeds": [0, 1, 2, 3, 4, 5],
    }
    sweep = client.post("/sweeps", json=body).json()
    ids = [uuid.UUID(i) for i in sweep["experiments"]]
    # Epochs to reach 0.9: the constant lr on seeds 0..5, then the decayed one on the same
    # seeds; seed 5's decayed run never gets there, so that seed does not pair.
    constant = [4, 5, 4, 6, 5, 4]
    decayed = [2, 3, 2, 3, 2, None]

    def curve(reached: int | None) -> list[float]:
        return [0.95 if reached is not None and e >= reached else 0.5 for e in range(1, 7)]

    for experiment_id, reached in zip(ids, [*constant, *decayed], strict=True):
        _record_curve(db_session, experiment_id, curve(reached))
    result = client.get(
        f"/sweeps/{sweep['id']}/comparison", params={"target": 0.9, "baseline": "constant"}
    ).json()
    rows = {r["label"]: r for r in result["rows"]}
    assert rows["constant"]["paired_target"] is None
    target = rows["exponential(gamma=0.9)"]["paired_target"]
    pairs = [(c, d) for c, d in zip(constant, decayed, strict=True) if d is not None]
    saved = [c - d for c, d in pairs]
    theirs = stats.ttest_rel([float(c) for c, _ in pairs], [float(d) for _, d in pairs])
    assert target["metric"] == "epochs_saved_to_target" and target["method"] == "paired"
    assert target["pairs"] == 5
    assert target["mean_difference"] == pytest.approx(float(np.mean(saved)))
    assert target["p_t"] == pytest.approx(float(theirs.pvalue))
    assert target["verdict"] == "better"
    # The final-accuracy comparison is the same 0.95 everywhere but seed 5: no difference.
    assert rows["exponential(gamma=0.9)"]["paired"]["verdict"].startswith("no detectable")
    csv_rows = list(csv.DictReader(io.StringIO(client.get(
        f"/sweeps/{sweep['id']}/comparison",
        params={"target": 0.9, "baseline": "constant", "format": "csv"},
    ).text)))  # fmt: skip
    decayed_csv = next(r for r in csv_rows if r["label"] == "exponential(gamma=0.9)")
    assert float(decayed_csv["epochs_saved_to_target"]) == pytest.approx(float(np.mean(saved)))
    assert decayed_csv["target_verdict"] == "better"
