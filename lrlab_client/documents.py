"""Experiment and sweep documents: reading YAML/JSON files, telling the kinds apart, hashing.

Everything here is local: no request is made, and every problem is a `SpecError` whose
message is one line fit to show the user.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from lrlab_client.errors import SpecError

Kind = Literal["experiment", "sweep"]


class _Loader(yaml.SafeLoader):
    """YAML 1.2 floats: `1e-3` is a number, not the string PyYAML's 1.1 rules make of it."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def load_document(path: Path) -> dict[str, Any]:
    """Read a YAML or JSON mapping (`.json` is JSON, anything else YAML); SpecError if not."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SpecError(f"{path} is a directory, not a file") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path} is not a UTF-8 text file") from None
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror or exc}") from None
    document: Any
    if path.suffix.lower() == ".json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(
                f"{path} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from None
    else:
        try:
            document = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
        except yaml.YAMLError as exc:
            raise SpecError(f"{path} is not valid YAML: {_yaml_problem(exc)}") from None
    if not isinstance(document, dict):
        kind = "nothing" if document is None else type(document).__name__
        raise SpecError(f"{path} must hold a mapping (an object), got {kind}")
    return document


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = exc.problem or exc.context or "syntax error"
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
        return problem
    return str(exc)


def detect_kind(document: Mapping[str, Any]) -> Kind:
    """Tell a sweep (`schedulers` list or `base`) from an experiment (`scheduler`)."""
    if not isinstance(document, Mapping):
        raise SpecError("the document must be a mapping (an experiment or a sweep)")
    if isinstance(document.get("schedulers"), list) or "base" in document:
        return "sweep"
    if "scheduler" in document:
        return "experiment"
    raise SpecError(
        "neither an experiment (needs `scheduler`) nor a sweep (needs `schedulers` or `base`)"
    )


def canonical_json(document: Any) -> str:
    """Key-order-independent JSON of a document (NaN/inf are refused, as the API does)."""
    try:
        return json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except ValueError as exc:  # NaN or infinity
        raise SpecError(f"the document holds a value JSON cannot carry: {exc}") from None
    except TypeError as exc:
        raise SpecError(f"the document holds a value JSON cannot carry: {exc}") from None


def content_key(document: Any, prefix: str = "lrlab-cli-") -> str:
    """An idempotency key derived from the document's content: same content, same key."""
    return prefix + hashlib.sha256(canonical_json(document).encode()).hexdigest()
