"""Learning rates seeded from a range test: `{"from_range_test": id, "suggestion", "multiplier"}`.

Wherever a spec gives a learning rate (`training.learning_rate`, a scheduler's `max_lr` or
`base_lr`, `keras.cosine_decay`'s peak `warmup_target`, at any depth, e.g. inside
`sequential`), it may instead name a succeeded range
test's suggestion. `resolve_lr_references` replaces each reference by suggestion × multiplier
before the spec is validated, so the schedule math only ever sees numbers, and returns where
each number came from (stored in the spec's `lr_from`). An unknown range test is a 422
naming the field; one that has not succeeded, or has no such suggestion (its curve was too
short), is a 409.
"""

import uuid
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError
from sqlalchemy.orm import Session

from models.errors import ConflictError
from models.experiments.schemas import LrProvenance
from models.tables import JobStatus, RangeTest

LR_KEYS = frozenset({"learning_rate", "max_lr", "base_lr", "warmup_target"})
MAX_REFERENCES = 32
_MAX_DEPTH = 12


class LrReference(BaseModel):
    """A learning rate taken from a range test's suggestion."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    from_range_test: uuid.UUID
    suggestion: Literal["valley", "slide", "minimum", "steep"] = "valley"
    # Strict like every number of a spec: "1" and true are not multipliers.
    multiplier: float = Field(default=1.0, gt=0, le=1000, strict=True)


def resolve_lr_references(
    session: Session, *, project_id: uuid.UUID, document: dict[str, Any], title: str
) -> tuple[dict[str, Any], dict[str, LrProvenance]]:
    """The document with every lr reference replaced by its number, and each one's provenance.

    Raises pydantic's ValidationError (a 422 naming the field) for a malformed reference, an
    unknown range test or a client-supplied `lr_from`; ConflictError (409) for a range test
    that has not succeeded or lacks the suggestion.
    """
    errors: list[InitErrorDetails] = []
    if "lr_from" in document:
        errors.append(_error(("lr_from",), "`lr_from` is set by the server", document["lr_from"]))
    found: dict[str, LrProvenance] = {}

    def find(range_test_id: uuid.UUID) -> RangeTest | None:
        # Another project's range test is as unknown as a missing one.
        test = session.get(RangeTest, range_test_id)
        return test if test is not None and test.project_id == project_id else None

    resolved = _walk(find, document, (), found, errors)
    if errors:
        raise ValidationError.from_exception_data(title, errors)
    return resolved, found


def has_lr_references(document: Any) -> bool:
    """Whether `document` holds a learning-rate reference (resolving it reads the database)."""
    stack = [(document, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > _MAX_DEPTH:
            continue
        if isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key in LR_KEYS and isinstance(value, dict):
                    return True
                stack.append((value, depth + 1))
    return False


_Find = Callable[[uuid.UUID], RangeTest | None]


def _walk(
    find: _Find,
    node: Any,
    loc: tuple[str | int, ...],
    found: dict[str, LrProvenance],
    errors: list[InitErrorDetails],
) -> Any:
    if len(loc) > _MAX_DEPTH:
        return node
    if isinstance(node, list):
        return [_walk(find, v, (*loc, i), found, errors) for i, v in enumerate(node)]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        here = (*loc, key)
        if key in LR_KEYS and isinstance(value, dict):
            out[key] = _resolve(find, value, here, found, errors)
        else:
            out[key] = _walk(find, value, here, found, errors)
    return out


def _resolve(
    find: _Find,
    value: dict[str, Any],
    loc: tuple[str | int, ...],
    found: dict[str, LrProvenance],
    errors: list[InitErrorDetails],
) -> Any:
    if len(found) >= MAX_REFERENCES:
        errors.append(_error(loc, f"at most {MAX_REFERENCES} range-test references", value))
        return value
    try:
        ref = LrReference.model_validate(value)
    except ValidationError as exc:
        for e in exc.errors():
            errors.append(_error((*loc, *e["loc"]), e["msg"], e.get("input")))
        return value
    path = ".".join(str(p) for p in loc)
    test = find(ref.from_range_test)
    if test is None:
        errors.append(
            _error(
                (*loc, "from_range_test"),
                f"range test {ref.from_range_test} not found",
                str(ref.from_range_test),
            )
        )
        return value
    if test.status != JobStatus.SUCCEEDED or not test.result:
        raise ConflictError(
            f"`{path}`: range test {test.id} is {test.status}; "
            "only a succeeded range test can seed a learning rate"
        )
    suggestion = test.result["suggestions"].get(ref.suggestion)
    if suggestion is None:
        raise ConflictError(
            f"`{path}`: range test {test.id} has no `{ref.suggestion}` suggestion "
            f"(its curve of {test.result['iterations']} iteration(s) is too short for it)"
        )
    lr = float(suggestion["lr"]) * ref.multiplier
    if np.float32(lr) == 0:
        # The worker trains in float32, where this lr would be 0: no training at all.
        errors.append(
            _error(
                (*loc, "multiplier"),
                f"suggested lr {float(suggestion['lr']):g} × multiplier {ref.multiplier:g} = "
                f"{lr:g} is 0 in float32",
                ref.multiplier,
            )
        )
        return value
    found[path] = LrProvenance(
        from_range_test=test.id,
        suggestion=ref.suggestion,
        multiplier=ref.multiplier,
        suggested_lr=float(suggestion["lr"]),
        lr=lr,
    )
    return lr


def _error(loc: tuple[str | int, ...], message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("lr_reference", message), loc=loc, input=value)
