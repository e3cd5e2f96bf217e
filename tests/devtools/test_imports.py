"""Who may import what outside the service: tests import helpers, never the other way round."""

import ast
from pathlib import Path

import pytest

from devtools.processes import ROOT


def _imported_packages(folder: Path) -> dict[str, set[str]]:
    """The top-level packages each module below `folder` imports (absolute imports)."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("devtools", {"tests", "bench"}),
        ("bench", {"tests"}),
        ("lrlab_client", {"api", "models", "worker", "migrations", "tests", "devtools", "bench"}),
    ],
)
def test_package_imports_none_of(package: str, forbidden: set[str]) -> None:
    imports = _imported_packages(ROOT / package)
    assert imports, f"no module found below {package}/"
    bad = {module: sorted(names & forbidden) for module, names in imports.items()}
    assert not {module: names for module, names in bad.items() if names}
