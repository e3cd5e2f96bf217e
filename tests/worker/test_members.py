"""What the engine takes and reports: the metric names come from the models' declaration."""

from typing import get_args

from models.schedules import PlateauSpec
from worker.members import METRIC_NAMES


def test_metric_names_are_what_plateau_may_monitor() -> None:
    assert METRIC_NAMES == ("loss", "accuracy", "val_loss", "val_accuracy")
    assert set(METRIC_NAMES) == set(get_args(PlateauSpec.model_fields["monitor"].annotation))
