"""The bounds of schedule parameters: declared once, checked by the math, published by the specs."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import cache
from typing import Any, Literal, get_args, get_origin, get_type_hints

MAX_DURATION = 10_000_000

Loc = tuple[str | int, ...]


class ParameterError(ValueError):
    """A schedule parameter that breaks a rule; `loc` names it (and the item, in a list)."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc


def fail(name: str, message: str) -> None:
    """Raise the ParameterError of parameter `name`."""
    raise ParameterError((name,), message)


def check_increasing(name: str, values: tuple[int, ...]) -> None:
    """Fail unless `values` (parameter `name`) is strictly increasing."""
    for before, after in itertools.pairwise(values):
        if after <= before:
            fail(name, f"`{name}` must be strictly increasing, got {list(values)}")


@dataclass(frozen=True)
class Bound:
    """The limits of one numeric parameter, or of each item of a tuple parameter.

    Used as `Annotated[int, Bound(...)]` on a schedule's field: the schedule checks it at
    construction, and the API spec publishes it in its JSON Schema.
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    integer: bool = False
    min_items: int | None = None

    @property
    def _numeric(self) -> bool:
        limits = (self.ge, self.gt, self.le, self.lt)
        return self.integer or any(limit is not None for limit in limits)

    def check(self, name: str, value: Any) -> None:
        """Raise ParameterError naming `name` (and the item) unless `value` keeps the bound."""
        if value is None:
            return
        if not isinstance(value, tuple):
            self._check_number((name,), value)
            return
        if self.min_items is not None and len(value) < self.min_items:
            if self.min_items == 1:
                fail(name, f"`{name}` must not be empty")
            fail(name, f"`{name}` must have at least {self.min_items} values, got {len(value)}")
        if self._numeric:
            for index, item in enumerate(value):
                self._check_number((name, index), item)

    def _check_number(self, loc: Loc, value: Any) -> None:
        name = loc[0]

        def broken(rule: str) -> None:
            raise ParameterError(loc, f"`{name}` {rule}, got {value!r}")

        if self.integer and (isinstance(value, bool) or not isinstance(value, int)):
            broken("must be an integer")
        if not self.integer and not math.isfinite(value):
            raise ParameterError(loc, f"`{name}` must be finite, got {value}")
        if self.ge is not None and value < self.ge:
            broken(f"must be >= {self.ge}")
        if self.gt is not None and value <= self.gt:
            broken(f"must be > {self.gt}")
        if self.le is not None and value > self.le:
            broken(f"must be <= {self.le}")
        if self.lt is not None and value >= self.lt:
            broken(f"must be < {self.lt}")

    def json_schema(self) -> Callable[[dict[str, Any]], None]:
        """Writes the bound into a field's JSON Schema (into `items` for a list, the non-null branch
        of an optional), as pydantic's own constraints would."""
        keywords = {
            key: value
            for key, value in (
                ("minimum", self.ge),
                ("exclusiveMinimum", self.gt),
                ("maximum", self.le),
                ("exclusiveMaximum", self.lt),
            )
            if value is not None
        }

        def write(schema: dict[str, Any]) -> None:
            if "items" in schema:
                schema["items"].update(keywords)
                if self.min_items is not None:
                    schema["minItems"] = self.min_items
            elif "anyOf" in schema:
                for branch in schema["anyOf"]:
                    if branch.get("type") != "null":
                        branch.update(keywords)
            else:
                schema.update(keywords)

        return write


DURATION = Bound(ge=1, le=MAX_DURATION, integer=True)
COUNT = Bound(ge=0, le=MAX_DURATION, integer=True)
POSITIVE = Bound(gt=0)
NON_NEGATIVE = Bound(ge=0)


@cache
def bounds(schedule: type) -> dict[str, Bound]:
    """The Bound declared on each field of the dataclass `schedule`, in field order."""
    hints = get_type_hints(schedule, include_extras=True)
    found: dict[str, Bound] = {}
    for field in fields(schedule):
        metadata = getattr(hints[field.name], "__metadata__", ())
        found.update((field.name, m) for m in metadata if isinstance(m, Bound))
    return found


@cache
def _rules(schedule: type) -> list[tuple[str, Bound | tuple[str, ...]]]:
    hints = get_type_hints(schedule)
    declared = bounds(schedule)
    rules: list[tuple[str, Bound | tuple[str, ...]]] = []
    for field in fields(schedule):
        if get_origin(hints[field.name]) is Literal:
            rules.append((field.name, get_args(hints[field.name])))
        elif field.name in declared:
            rules.append((field.name, declared[field.name]))
    return rules


def check_parameters(schedule: object) -> None:
    """Check each field's declared Bound or Literal choices, in field order."""
    kind: type = type(schedule)
    for name, rule in _rules(kind):
        value = getattr(schedule, name)
        if isinstance(rule, Bound):
            rule.check(name, value)
        elif value not in rule:
            options = ", ".join(rule[:-1]) + f" or {rule[-1]}"
            fail(name, f"`{name}` must be {options}, got {value!r}")
