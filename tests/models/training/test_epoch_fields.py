"""The per-epoch metric declaration and the `metric` table that stores it agree."""

import typing

from models.tables import Metric
from models.training import METRIC_NAMES, EpochMetrics, MetricRead

# Columns of the table that say whose epoch it is and when, not what was measured.
BOOKKEEPING = {"experiment_id", "attempt", "created_at"}


def test_table_columns_are_the_declared_fields_with_matching_types() -> None:
    columns = {c.name: c for c in Metric.__table__.columns if c.name not in BOOKKEEPING}
    assert set(columns) == set(EpochMetrics.model_fields)
    for name, field in EpochMetrics.model_fields.items():
        declared = typing.get_origin(field.annotation) or field.annotation
        assert columns[name].type.python_type is declared, name
        assert not columns[name].nullable, name


def test_the_read_model_is_the_report_without_step_lrs() -> None:
    assert set(EpochMetrics.model_fields) - set(MetricRead.model_fields) == {"step_lrs"}


def test_monitorable_names_are_the_measured_values() -> None:
    # The names a plateau schedule may monitor, in the order Keras reports them.
    assert METRIC_NAMES == ("loss", "accuracy", "val_loss", "val_accuracy")
