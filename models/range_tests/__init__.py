"""Learning-rate range tests (fastai's `lr_find`) as jobs: math, schemas, service, attempts.

- `lr_finder`: the range test's math and suggestions, as fastai 2.x computes them (pure).
- `schemas`: the request, the stored result and how a result is derived from the curves.
- `service`: submit, read, list, cancel, and the recorded curves.
- `attempts`: the range-test kind of job (`RANGE_TEST_JOBS`): claim, progress, fenced finish.
- `plot`: the range-test plot, like fastai's `plot_lr_find`."""

from models.range_tests.attempts import (
    RANGE_TEST_JOBS,
    RUN_RANGE_TEST_TASK,
    RangeTestClaim,
    SeedCurve,
    claim_range_test,
    fail_range_test,
    finish_range_test,
    record_range_progress,
)
from models.range_tests.lr_finder import (
    MAX_NUM_ITER,
    CurveTooShortError,
    RangeTestTracker,
    SmoothedLoss,
    Suggestion,
    Suggestions,
    check_range_test,
    lr_at,
    lr_sequence,
    minimum,
    slide,
    smooth_losses,
    steep,
    suggest,
    trim_curve,
    valley,
)
from models.range_tests.plot import (
    render_range_test,
)
from models.range_tests.schemas import (
    CurveList,
    CurvePoint,
    RangeTestCreate,
    RangeTestPage,
    RangeTestRead,
    summarise_curves,
)
from models.range_tests.service import (
    cancel_range_test,
    create_range_test,
    curve_points,
    get_range_test,
    list_curves,
    list_range_tests,
    range_test_read,
    submit_range_test,
)

__all__ = [
    "MAX_NUM_ITER",
    "RANGE_TEST_JOBS",
    "RUN_RANGE_TEST_TASK",
    "CurveList",
    "CurvePoint",
    "CurveTooShortError",
    "RangeTestClaim",
    "RangeTestCreate",
    "RangeTestPage",
    "RangeTestRead",
    "RangeTestTracker",
    "SeedCurve",
    "SmoothedLoss",
    "Suggestion",
    "Suggestions",
    "cancel_range_test",
    "check_range_test",
    "claim_range_test",
    "create_range_test",
    "curve_points",
    "fail_range_test",
    "finish_range_test",
    "get_range_test",
    "list_curves",
    "list_range_tests",
    "lr_at",
    "lr_sequence",
    "minimum",
    "range_test_read",
    "record_range_progress",
    "render_range_test",
    "slide",
    "smooth_losses",
    "steep",
    "submit_range_test",
    "suggest",
    "summarise_curves",
    "trim_curve",
    "valley",
]
