"""Who may import whom: the allowed edges between top-level packages and `models/` packages.

One table each. A static pass reads every import (function-level ones included); a runtime
pass imports the entry points and checks what they pulled in, so a lazy import cannot hide a
heavy or forbidden dependency.
"""

import ast
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from devtools.processes import ROOT

# Top-level packages → the first-party packages (and heavy libraries) each may import.
HEAVY = {"tensorflow", "keras", "jax", "torch"}
TOP_LEVEL: dict[str, set[str]] = {
    "models": {"models"},
    "api": {"api", "models"},
    "worker": {"worker", "models", "tensorflow", "keras", "jax"},
    "lrlab_client": {"lrlab_client"},
    "migrations": {"models"},
    "devtools": {"devtools", "models"},
    "bench": {"bench", "api", "models", "worker", "devtools", "lrlab_client"} | HEAVY,
}
FIRST_PARTY = set(TOP_LEVEL) | {"tests"}

# `models/` packages (and its shared modules) → the ones each may import, bottom layer first.
MODELS: dict[str, set[str]] = {
    "storage": {"errors"},
    "tables": {"storage"},
    "errors": set(),
    "fields": set(),
    "plots": {"storage", "errors"},
    "training": {"storage", "errors"},
    "schedules": {"plots", "storage", "errors"},
    "identity": {"storage", "tables", "errors", "fields"},
    "jobs": {"storage", "tables", "errors", "training"},
    "experiments": {"storage", "tables", "errors", "fields", "training", "schedules", "jobs"},
    "range_tests": {"storage", "tables", "errors", "fields", "training", "jobs", "plots"}
    | {"experiments"},
    "sweeps": {"storage", "tables", "errors", "fields", "training", "schedules", "jobs", "plots"}
    | {"experiments", "range_tests"},
}

# Entry points → the top-level modules importing them must not load.
AT_RUNTIME: dict[str, set[str]] = {
    "api.main": {"worker", "tensorflow", "keras", "jax"},
    "lrlab_client.cli": {"api", "models", "worker", "tensorflow", "keras", "celery", "sqlalchemy"},
    "worker.datasets": {"tensorflow", "keras"},
}


def _imports(path: Path) -> set[str]:
    """Every absolute module `path` imports, at any depth of the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def _edges(
    folder: str, key: Callable[[Path], str], name: Callable[[str], str | None]
) -> dict[str, set[str]]:
    """For each `key(path)` below `folder`, the `name(module)`s its files import."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in sorted((ROOT / folder).rglob("*.py")):
        for module in _imports(path):
            target = name(module)
            if target is not None:
                edges[key(path)].add(target)
    return edges


@pytest.mark.parametrize("package", sorted(TOP_LEVEL))
def test_top_level_packages_import_only_what_the_table_allows(package: str) -> None:
    found = _edges(
        package,
        key=lambda _: package,
        name=lambda m: m.split(".")[0] if m.split(".")[0] in FIRST_PARTY | HEAVY else None,
    )
    assert found, f"no import found below {package}/"
    assert found[package] <= TOP_LEVEL[package], sorted(found[package] - TOP_LEVEL[package])


def test_models_packages_import_only_lower_layers() -> None:
    def key(path: Path) -> str:
        parts = path.relative_to(ROOT / "models").parts
        return parts[0] if len(parts) > 1 else path.stem

    found = _edges(
        "models",
        key=key,
        name=lambda m: m.split(".")[1] if m.startswith("models.") else None,
    )
    packages = {key(p) for p in (ROOT / "models").rglob("*.py")} - {"__init__"}
    assert packages == set(MODELS), "every models package and shared module has a row"
    bad = {k: sorted(v - {k} - MODELS[k]) for k, v in found.items() if v - {k} - MODELS[k]}
    assert not bad


def test_the_models_table_has_no_cycle() -> None:
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, " → ".join((*path, node))
        if node not in done:
            for target in MODELS[node]:
                visit(target, (*path, node))
            done.add(node)

    for package in MODELS:
        visit(package, ())


def test_callers_import_a_models_package_not_its_modules() -> None:
    bad = []
    for folder in ("api", "worker", "devtools", "migrations"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for module in _imports(path):
                parts = module.split(".")
                if parts[0] == "models" and len(parts) > 2 and parts[1] in MODELS:
                    bad.append(f"{path.relative_to(ROOT)}: {module}")
    assert not bad


@pytest.mark.parametrize(("entry", "forbidden"), sorted(AT_RUNTIME.items()))
def test_importing_an_entry_point_loads_nothing_forbidden(entry: str, forbidden: set[str]) -> None:
    probe = (
        f"import sys, {entry}\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(forbidden)!r})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


def test_every_models_module_imports_without_api_worker_or_tensorflow() -> None:
    probe = (
        "import importlib, pkgutil, sys, models\n"
        "for m in pkgutil.walk_packages(models.__path__, 'models.'):\n"
        # A package's __main__ is a command: importing it runs it.
        "    if not m.name.endswith('.__main__'): importlib.import_module(m.name)\n"
        "print(len([m for m in sys.modules if m.startswith('models.')]))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'api', 'worker', 'tensorflow', 'keras', 'jax'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    count, loaded = done.stdout.split("\n", 1)
    assert int(count) >= 40  # every module was imported, not an empty walk
    assert loaded.strip() == "[]"
