"""The sweep grammar: grid keys, expansion into experiment specs, and configuration labels."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    BaseModel,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
)

from models.experiments import ExperimentCreate
from models.fields import SafeStr
from models.schedules import SCHEDULER_TYPES
from models.storage import get_settings
from models.training import FAMILIES

if TYPE_CHECKING:
    from models.sweeps.schemas import SweepCreate

# Training fields a grid may vary; seeds have their own list.
GRID_TRAINING_FIELDS = (
    "learning_rate",
    "batch_size",
    "epochs",
    "optimizer",
    "momentum",
    "nesterov",
    "weight_decay",
    "beta_1",
    "beta_2",
    "epsilon",
    "rho",
    "centered",
)
# Model fields a grid may vary (`model.type` switches family; a key applies where it exists).
GRID_MODEL_FIELDS = tuple(
    sorted({f for cls in FAMILIES.values() for f in cls.model_fields} - {"hidden_units", "filters"})
)
GridValue = StrictBool | StrictInt | StrictFloat | Annotated[SafeStr, Field(max_length=200)]


@dataclass(frozen=True)
class SweepCell:
    """One expanded member: its configuration label and its full experiment spec."""

    label: str
    spec: ExperimentCreate


def _split_key(key: str) -> tuple[str, str]:
    """A grid key as (scope, parameter): the scope is everything before the last dot, as types
    such as `keras.cosine_decay` contain dots and parameter names never do."""
    scope, _, param = key.rpartition(".")
    return scope, param


def expand(sweep: SweepCreate) -> list[SweepCell]:
    """Validate the grid and expand the sweep; every cell is validated before any is stored."""
    errors = _grid_errors(sweep)
    if len(set(sweep.seeds)) != len(sweep.seeds):
        errors.append("`seeds` must not repeat a seed")
    if any(not 0 <= s <= 2**31 - 1 for s in sweep.seeds):
        errors.append("`seeds` must be in 0..2147483647")
    if errors:
        raise ValueError("; ".join(errors))
    training_keys = [k for k in sweep.grid if k.startswith(("training.", "model."))]
    keys_of = [
        [k for k in sweep.grid if _split_key(k)[0] == s.type] + training_keys
        for s in sweep.schedulers
    ]
    # The size from the lengths alone, before any cell is built: refusing costs microseconds.
    limit = get_settings().sweep_max_experiments
    total = len(sweep.seeds) * sum(math.prod(len(sweep.grid[k]) for k in keys) for keys in keys_of)
    if total > limit:
        raise ValueError(
            f"the sweep expands to {total} experiments, more than the limit of {limit} "
            "(LRLAB_SWEEP_MAX_EXPERIMENTS)"
        )
    configs: list[tuple[str, ExperimentCreate]] = []
    for index, (scheduler, keys) in enumerate(zip(sweep.schedulers, keys_of, strict=True)):
        scheduler_keys = keys[: len(keys) - len(training_keys)]
        for values in itertools.product(*(sweep.grid[k] for k in keys)):
            point = dict(zip(keys, values, strict=True))
            scheduler_doc = scheduler.model_dump() | {
                _split_key(k)[1]: v for k, v in point.items() if k in scheduler_keys
            }
            overrides = {
                k.split(".", 1)[1]: v for k, v in point.items() if k.startswith("training.")
            }
            model_over = {k.split(".", 1)[1]: v for k, v in point.items() if k.startswith("model.")}
            family = FAMILIES.get(str(model_over.get("type", sweep.base.model.type)))
            absent = [k for k in model_over if family is not None and k not in family.model_fields]
            # A family without a varied field trains once, not once per value of that field.
            if any(point[f"model.{k}"] != sweep.grid[f"model.{k}"][0] for k in absent):
                continue
            for k in absent:
                del model_over[k]
            try:
                spec = ExperimentCreate.model_validate(
                    {
                        "name": sweep.name,
                        "scheduler": scheduler_doc,
                        "model": _model_doc(sweep.base.model, model_over),
                        "training": sweep.base.training.model_dump() | overrides,
                        "dataset": sweep.base.dataset.model_dump(),
                    }
                )
            except ValidationError as exc:
                where = f"schedulers[{index}]" + (f" with {point}" if point else "")
                errors.extend(f"{where}: {_first_line(e)}" for e in exc.errors())
                continue
            varied = [_split_key(k)[1] for k in scheduler_keys]
            shown = overrides | {f"model.{k}": v for k, v in model_over.items()}
            configs.append((_label(spec.scheduler, shown, varied=varied), spec))
    if errors:
        raise ValueError("; ".join(errors[:20]))
    configs = _distinct(configs)
    return [
        SweepCell(
            label=label,
            spec=spec.model_copy(
                update={"training": spec.training.model_copy(update={"seed": seed})}
            ),
        )
        for label, spec in configs
        for seed in sweep.seeds
    ]


def check_pruning(sweep: SweepCreate) -> None:
    """Pruning needs members to compare and rungs within every member's epochs."""
    pruning = sweep.pruning
    if pruning is None:
        return
    if len(sweep.cells) < 2:
        raise ValueError("`pruning` needs a sweep of at least 2 members, this one has 1")
    epochs = min(cell.spec.training.epochs for cell in sweep.cells)
    if pruning.max_t is not None and pruning.max_t > epochs:
        raise ValueError(
            f"`pruning.max_t` must be <= the members' epochs ({epochs}), got {pruning.max_t}"
        )


def _model_doc(base: BaseModel, overrides: dict[str, Any]) -> dict[str, Any]:
    """The base model with a grid point's `model.*` values; a new family starts at its defaults
    and takes only the values of fields it has."""
    doc = base.model_dump()
    family = overrides.get("type", doc["type"])
    if family != doc["type"]:
        doc = {"type": family}
    fields = FAMILIES[family].model_fields if family in FAMILIES else {}
    return doc | {k: v for k, v in overrides.items() if k in fields}


def _distinct(configs: list[tuple[str, ExperimentCreate]]) -> list[tuple[str, ExperimentCreate]]:
    """Refuse repeated configurations (compared as normalised specs); keep labels unique."""
    seen: dict[str, str] = {}
    repeated: list[str] = []
    for label, spec in configs:
        key = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
        if key in seen:
            repeated.append(label)
        seen[key] = label
    if repeated:
        shown = ", ".join(label[:100] for label in repeated[:5])
        raise ValueError(f"the sweep repeats a configuration: {shown}")
    # Distinct specs can share a label (a cut label, floats alike at %g): number them apart,
    # since the comparison groups members by label.
    uses: dict[str, int] = {}
    for label, _ in configs:
        uses[label] = uses.get(label, 0) + 1
    numbered: dict[str, int] = {}
    distinct = []
    for label, spec in configs:
        if uses[label] > 1:
            numbered[label] = numbered.get(label, 0) + 1
            label = f"{label} #{numbered[label]}"
        distinct.append((label, spec))
    return distinct


def _grid_errors(sweep: SweepCreate) -> list[str]:
    types = {s.type: type(s) for s in sweep.schedulers}
    errors = []
    for key, values in sweep.grid.items():
        scope, param = _split_key(key)
        if not values:
            errors.append(f"grid key `{key}` needs at least one value")
        if len(values) > 100:
            errors.append(f"grid key `{key}` has {len(values)} values, at most 100 are allowed")
        if not scope or not param:
            errors.append(
                f"grid key `{key}` must be `<scheduler type>.<parameter>`, `training.<field>` "
                "or `model.<field>`"
            )
        elif scope == "model":
            if param not in GRID_MODEL_FIELDS:
                allowed = ", ".join(GRID_MODEL_FIELDS)
                errors.append(f"grid key `{key}`: `model.{param}` is not one of {allowed}")
        elif scope == "training":
            if param not in GRID_TRAINING_FIELDS:
                allowed = ", ".join(GRID_TRAINING_FIELDS)
                errors.append(f"grid key `{key}`: `training.{param}` is not one of {allowed}")
        elif scope not in SCHEDULER_TYPES:
            errors.append(f"grid key `{key}`: unknown scheduler type `{scope}`")
        elif scope not in types:
            errors.append(f"grid key `{key}`: the sweep has no `{scope}` scheduler")
        elif param == "type" or param not in types[scope].model_fields:
            errors.append(f"grid key `{key}`: `{scope}` has no parameter `{param}`")
    return errors


def _label(scheduler: BaseModel, training: dict[str, Any], *, varied: Sequence[str]) -> str:
    # Non-default parameters, plus every parameter the grid varies (even at its default).
    full = scheduler.model_dump(mode="json")
    params = scheduler.model_dump(mode="json", exclude_defaults=True, exclude={"type"})
    params |= {k: full[k] for k in varied if k not in params}
    if params.get("interval") == getattr(scheduler, "default_interval", None):
        del params["interval"]
    inner = ", ".join(f"{k}={_short(v)}" for k, v in params.items())
    kind = str(getattr(scheduler, "type"))  # noqa: B009 - every scheduler spec has `type`
    label = f"{kind}({inner})" if inner else kind
    if training:
        label += " " + " ".join(f"{k}={_short(v)}" for k, v in training.items())
    return label[:500]


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    if isinstance(value, dict):
        return _label_dict(value)
    return str(value)


def _label_dict(doc: dict[str, Any]) -> str:
    inner = ", ".join(f"{k}={_short(v)}" for k, v in doc.items() if k != "type")
    return f"{doc.get('type', '')}({inner})"


def _first_line(error: Any) -> str:
    loc = ".".join(str(p) for p in error.get("loc", ()))
    return f"{loc}: {error.get('msg', '')}" if loc else str(error.get("msg", ""))
